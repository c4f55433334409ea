"""Text machinery of SMS: words and their token scores, candidate rewrites, edit distances.

Nothing here knows any noise of the catalogue: candidates come from generic
normalisations (Unicode NFKC, the Unicode confusables of Latin letters, invisible
characters, whitespace, casing, repeated punctuation) and from the lexicon the
calibrator fits on clean reference questions.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from functools import lru_cache
from typing import Iterable, Sequence

from medrobust import is_protected, tokenize

__all__ = ["Word", "words_of", "word_scores", "protected_sequence", "normalise_word",
           "normalise_spacing", "dl_distance", "edit_fraction", "Lexicon", "word_candidates", "recase",
           "meaning_changes"]

_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)

# Latin look-alikes from Unicode's confusables (Cyrillic and Greek letters that render as Latin ones).
_CONFUSABLES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "У": "Y",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "ι": "i", "κ": "k", "υ": "u",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})


@dataclasses.dataclass(frozen=True)
class Word:
    """One non-space run of a question: position, span and its parts."""

    index: int          # position among the question's pieces (tokenize(text))
    start: int
    end: int
    text: str

    @property
    def parts(self) -> tuple[str, str, str]:
        lead, core, trail = _CORE.match(self.text).groups()  # type: ignore[union-attr]
        return lead, core, trail

    @property
    def protected(self) -> bool:
        return is_protected(self.text)


def words_of(text: str) -> list[Word]:
    """The non-space runs of ``text`` with their character spans."""
    out, pos = [], 0
    for k, piece in enumerate(tokenize(text)):
        if not piece.isspace():
            out.append(Word(k, pos, pos + len(piece), piece))
        pos += len(piece)
    return out


def word_scores(text: str, tokens: Sequence[tuple[str, float]]) -> list[tuple[float, int]]:
    """Per word of ``text``: (surprisal in nats, number of model tokens).

    Token strings are laid end to end over the text; a token belongs to the word
    holding its first non-space character, a whitespace-only token to the next word
    (so odd spacing shows as extra pieces). An omitted first token (the contract
    allows it) is handled by aligning from the end of the text.
    """
    words = words_of(text)
    out = [[0.0, 0] for _ in words]
    if not words:
        return []
    total = sum(len(t) for t, _ in tokens)
    pos = len(text) - total if total <= len(text) else 0
    w = 0
    for piece, logp in tokens:
        stripped = len(piece) - len(piece.lstrip())
        anchor = pos + stripped if stripped < len(piece) else pos + len(piece)
        while w + 1 < len(words) and words[w].end <= anchor:
            w += 1
        if piece.strip() == "" and piece and anchor >= words[w].end:
            target = min(w + 1, len(words) - 1)
        else:
            target = w
        out[target][0] += -float(logp)
        out[target][1] += 1
        pos += len(piece)
    return [(s, n) for s, n in out]


def protected_sequence(text: str) -> list[str]:
    """Protected tokens (negation, laterality, numbers, units) in order, lower-cased cores."""
    return [w.parts[1].lower().replace("\u2019", "'") for w in words_of(text) if w.protected]


def _strip_invisible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def normalise_word(text: str) -> str:
    """NFKC, Latin look-alikes for Cyrillic/Greek letters, invisible characters removed."""
    return unicodedata.normalize("NFKC", _strip_invisible(text)).translate(_CONFUSABLES)


def normalise_spacing(text: str) -> str:
    """Every whitespace run becomes one space; no space before ``?.,;:``; trimmed."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r" ([?.,;:!])", r"\1", text)


@lru_cache(maxsize=200_000)
def dl_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (textdistance)."""
    import textdistance

    return int(textdistance.damerau_levenshtein.distance(a, b))


def edit_fraction(original: str, rewrite: str) -> float:
    """Damerau-Levenshtein distance over the length of the original."""
    return dl_distance(original, rewrite) / max(1, len(original))


def recase(word: str, like: str) -> str:
    """``word`` in the casing of ``like``: UPPER, Title or lower."""
    letters = [c for c in like if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class Lexicon:
    """Known words: their lower-cased forms, indexed by length for fast near-neighbour search."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted({w.lower() for w in words if w and any(c.isalpha() for c in w)})
        self._set = frozenset(self.words)
        self._by_len: dict[int, list[str]] = {}
        for w in self.words:
            self._by_len.setdefault(len(w), []).append(w)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._set

    def __len__(self) -> int:
        return len(self.words)

    def near(self, word: str, max_fraction: float, max_distance: int = 2) -> list[tuple[int, str]]:
        """Lexicon words within the edit budget of ``word``: (distance, word), closest first."""
        low = word.lower()
        out = []
        for n in range(max(1, len(low) - max_distance), len(low) + max_distance + 1):
            for cand in self._by_len.get(n, ()):
                d = dl_distance(low, cand)
                if d <= max_distance and d / max(len(low), len(cand)) <= max_fraction:
                    out.append((d, cand))
        return sorted(out)


def word_candidates(words: Sequence[Word], i: int, lexicon: Lexicon, max_fraction: float,
                    max_distance: int, limit: int) -> list[tuple[int, int, str, int]]:
    """Rewrites of word ``i``: (first word, last word, replacement text, edit cost), best prior first.

    The replacement covers words ``first..last`` (a merge spans two). Candidates never
    touch a protected word and never produce one.
    """
    word = words[i]
    lead, core, trail = word.parts
    norm = normalise_word(core)
    base = norm.lower()
    out: dict[tuple[int, int, str], int] = {}

    def add(first: int, last: int, text: str, cost: int) -> None:
        if text and not any(is_protected(t) for t in text.split()):
            key = (first, last, text)
            out[key] = min(cost, out.get(key, cost))

    # cheap normalisations: look-alikes, invisible characters, casing, repeated punctuation
    clean_trail = trail[:1] if trail else ""
    clean_lead = "" if lead and not lead.startswith(("(", "[", "\"", "'")) else lead[:1]
    for t in {trail, clean_trail}:
        for ld in {lead, clean_lead}:
            add(i, i, ld + norm + t, 0 if (t == trail and ld == lead) else 1)
            if base in lexicon:
                add(i, i, ld + recase(base, norm) + t, 0 if norm == recase(base, norm) else 1)
                add(i, i, ld + base + t, 1)
    # lexicon neighbours within the edit budget
    if base and any(c.isalpha() for c in base):
        for d, cand in lexicon.near(base, max_fraction, max_distance)[:limit]:
            add(i, i, lead + recase(cand, norm) + clean_trail, d)
    # a word split in two by a space: merge with the next word
    if i + 1 < len(words) and not words[i + 1].protected and not trail:
        nlead, ncore, ntrail = words[i + 1].parts
        if not nlead:
            merged = (norm + normalise_word(ncore)).lower()
            # exact, or one edit away when neither half is a known word on its own
            budget = 1 if (base not in lexicon and ncore.lower() not in lexicon) else 0
            for d, cand in lexicon.near(merged, max_fraction, budget)[:2]:
                if len(cand) > max(len(base), len(ncore)):
                    add(i, i + 1, lead + recase(cand, norm) + ntrail[:1], d + 1)
    # two words run together: split into two known words
    if len(base) >= 4 and base not in lexicon:
        for j in range(1, len(base)):
            a, b = base[:j], base[j:]
            if a in lexicon and b in lexicon:
                add(i, i, lead + recase(a, norm) + " " + b + clean_trail, 1)
    ranked = sorted(out.items(), key=lambda kv: (kv[1], kv[0][2]))
    return [(f, l, text, cost) for (f, l, text), cost in ranked[:limit + 4]]


def _repairs(new: str, old_words: Sequence[str], lexicon: "Lexicon") -> bool:
    """Is protected ``new`` the repair of a typo among ``old_words`` (an unknown, unprotected word close to it)?"""
    return any(not is_protected(w) and w not in lexicon and dl_distance(w, new) <= 2
               and dl_distance(w, new) <= 0.5 * max(len(w), len(new)) for w in old_words)


def meaning_changes(original: str, rewrite: str, lexicon: "Lexicon") -> list[str]:
    """How a rewrite changes what the question asks, as far as protected tokens tell; empty when it does not.

    Every protected token of ``original`` (negation, laterality, number, unit) must
    stay, in order; a protected token may appear only as the repair of a typo (an
    unknown word of the original within two edits: ``lfet`` -> ``left``, never the
    known word ``on`` -> ``no``).
    """
    def cores(text: str) -> list[str]:
        return [normalise_word(w.parts[1]).lower().replace("\u2019", "'") or w.text for w in words_of(text)]

    a, b = cores(original), cores(rewrite)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        old = [w for w in a[i1:i2] if is_protected(w)]
        new = [w for w in b[j1:j2] if is_protected(w)]
        if "".join(old) == "".join(new):  # "2cm" -> "2 cm"
            continue
        for w in old:
            if w not in new:
                out.append(f"removes {w!r}")
        for w in new:
            if w not in old and not _repairs(w, a[i1:i2], lexicon):
                out.append(f"adds {w!r}")
    return out
