"""Clinical text noises: how questions really reach a model (typed, scanned, dictated, pasted).

Each noise is a pure ``fn(text, params) -> text`` whose only randomness is
``random.Random(params["seed"])``; its severity table holds resolved numbers. Every noise spares
protected tokens (negation, laterality, numbers, units; see :func:`medrobust.noise.text.is_protected`)
and rejects any edit that would create one ("mot" -> "not", "write" -> "right"). Word lists are
data in :mod:`medrobust.noise._text_data`.

Per-token random numbers are drawn whether or not the token is edited, so the words edited at one
severity are edited identically at every higher severity: the damage is nested and grows.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from . import _text_data as data
from ._text_ops import Draw, creates_protected, draws, map_tokens, map_words, recase, rng_of, split_core
from .base import TextNoise
from .text import is_protected, tokenize

__all__ = [
    "KEYBOARD_TYPOS", "OCR_CONFUSIONS", "ASR_HOMOPHONES", "SPLIT_WORDS", "MERGE_WORDS",
    "MEDICAL_ABBREVIATIONS", "CLINICAL_MISSPELLINGS", "WORD_ORDER_SWAPS", "CASING_NOISE",
    "PUNCTUATION_NOISE", "WHITESPACE_NOISE", "UNICODE_HOMOGLYPHS", "NOISES",
]

_SPLIT_MIN_PART = 2
_TRUNCATE_MIN_LENGTH = 6
_VOWELS = frozenset("aeiouyAEIOUY")
_PHRASE_PART = re.compile(r"^([(\[\"']*)(.*?)([)\]\"',.?!;:]*)$", re.DOTALL)
_PHONETIC = tuple((re.compile(pattern), replacement) for pattern, replacement in data.PHONETIC_RULES)


# --- typing ----------------------------------------------------------------------------------

def _keyboard_edit(core: str, draw: Draw, insert_prob: float) -> str | None:
    sites = [i for i, ch in enumerate(core) if ch.lower() in data.KEYBOARD_NEIGHBOURS]
    if not sites:
        return None
    rng = draw.rng
    i = rng.choice(sites)
    key = rng.choice(data.KEYBOARD_NEIGHBOURS[core[i].lower()])
    key = key.upper() if core[i].isupper() else key
    if rng.random() < insert_prob:  # fat finger: the neighbour is pressed too, before or after
        return core[:i] + key + core[i:] if rng.random() < 0.5 else core[:i + 1] + key + core[i + 1:]
    return core[:i] + key + core[i + 1:]


def keyboard_typos(text: str, params: Mapping[str, Any]) -> str:
    """Each unprotected word gets, with probability ``rate``, a QWERTY-neighbour substitution or insertion."""
    rate, insert_prob = float(params["rate"]), float(params["insert_prob"])
    return map_words(text, params, lambda core, d: _keyboard_edit(core, d, insert_prob) if d.gate < rate else None)


# --- OCR -------------------------------------------------------------------------------------

def _ocr_edit(core: str, draw: Draw, edits: int) -> str | None:
    sites = [(i, src, dst, w) for src, dst, w in data.OCR_CONFUSIONS
             for i in range(len(core)) if core.startswith(src, i)]
    chosen: list[tuple[int, str, str, int]] = []
    for _ in range(edits):
        free = [s for s in sites if all(s[0] + len(s[1]) <= c[0] or c[0] + len(c[1]) <= s[0] for c in chosen)]
        if not free:
            break
        chosen.append(draw.rng.choices(free, weights=[s[3] for s in free])[0])
    if not chosen:
        return None
    out, pos = [], 0
    for i, src, dst, _ in sorted(chosen):
        out += [core[pos:i], dst]
        pos = i + len(src)
    return "".join(out) + core[pos:]


def ocr_confusions(text: str, params: Mapping[str, Any]) -> str:
    """Each unprotected word is, with probability ``rate``, misread at ``edits`` places from the OCR table."""
    rate, edits = float(params["rate"]), int(params["edits"])
    return map_words(text, params, lambda core, d: _ocr_edit(core, d, edits) if d.gate < rate else None)


# --- speech recognition ----------------------------------------------------------------------

def asr_homophones(text: str, params: Mapping[str, Any]) -> str:
    """Each word with a homophone in the table is, with probability ``rate``, heard as one of them."""
    rate = float(params["rate"])

    def edit(core: str, d: Draw) -> str | None:
        options = data.HOMOPHONES.get(core.lower())
        if not options or d.gate >= rate:
            return None
        return recase(core, d.rng.choice(options))

    return map_words(text, params, edit)


# --- segmentation ----------------------------------------------------------------------------

def split_words(text: str, params: Mapping[str, Any]) -> str:
    """Each unprotected word of ``min_length`` letters or more is split in two by a space with probability ``rate``."""
    rate, min_length = float(params["rate"]), int(params["min_length"])

    def edit(core: str, d: Draw) -> str | None:
        if len(core) < min_length or d.gate >= rate:
            return None
        cuts = [j for j in range(_SPLIT_MIN_PART, len(core) - _SPLIT_MIN_PART + 1)
                if core[j - 1].isalpha() and core[j].isalpha()
                and not is_protected(core[:j]) and not is_protected(core[j:])]
        if not cuts:
            return None
        j = d.rng.choice(cuts)
        return core[:j] + " " + core[j:]

    return map_words(text, params, edit)


def merge_words(text: str, params: Mapping[str, Any]) -> str:
    """Each space between two unprotected words is dropped with probability ``rate`` (never gluing on a protected one)."""
    rate = float(params["rate"])
    tokens, stream = tokenize(text), draws(rng_of(params))
    out: list[str] = []
    for k, token in enumerate(tokens):
        if not token.isspace():
            if token:
                out.append(token)
            continue
        gate = next(stream).gate
        before = out[-1] if out and not out[-1].isspace() else None
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        if (before is not None and after is not None and gate < rate
                and not is_protected(before) and not is_protected(after)
                and not is_protected(before + after)):
            out[-1] = before + after
            tokens[k + 1] = ""  # consumed: the next word was glued on
            continue
        out.append(token)
    return "".join(out)


# --- abbreviations ---------------------------------------------------------------------------

def _abbreviation_tables() -> tuple[dict[tuple[str, ...], str], dict[tuple[str, ...], str]]:
    """(case-sensitive table, lower-cased table): phrase words -> replacement, both directions."""
    cased: dict[tuple[str, ...], str] = {}
    uncased: dict[tuple[str, ...], str] = {}
    for long, short in data.ABBREVIATIONS:
        for source, target in ((long, short), (short, long)):
            if source in data.CASE_SENSITIVE_SHORT_FORMS:
                table, key = cased, tuple(source.split())
            else:
                table, key = uncased, tuple(source.lower().split())
            if key in cased or key in uncased:
                raise ValueError(f"abbreviation {source!r} is declared twice")
            table[key] = target
    return cased, uncased


_CASED, _UNCASED = _abbreviation_tables()
_LONGEST = max(len(k) for k in (*_CASED, *_UNCASED))


def _lookup(cores: tuple[str, ...]) -> str | None:
    return _CASED.get(cores) or _UNCASED.get(tuple(c.lower() for c in cores))


def _phrase_part(word: str) -> tuple[str, str, str]:
    """Like :func:`split_core`, but ``&`` and ``w/`` are words here: only brackets, quotes and
    sentence marks are stripped."""
    lead, core, trail = _PHRASE_PART.match(word).groups()  # type: ignore[union-attr]
    return lead, core, trail


def _abbreviation_at(words: list[str], i: int) -> tuple[int, str] | None:
    """The longest table phrase starting at word ``i`` (no punctuation inside): (length, replacement)."""
    for n in range(min(_LONGEST, len(words) - i), 0, -1):
        parts = [_phrase_part(w) for w in words[i:i + n]]
        if any(p[0] for p in parts[1:]) or any(p[2] for p in parts[:-1]):
            continue
        target = _lookup(tuple(p[1] for p in parts))
        if target is not None:
            first = parts[0][1]
            if not any(c.isupper() for c in target):  # a long form or a lower-case short form
                acronym = sum(c.isupper() for c in first) > 1
                target = target if acronym else recase(first, target)
            return n, parts[0][0] + target + parts[-1][2]
    return None


def _truncate(core: str, draw: Draw) -> str | None:
    """Ad-hoc clinical shorthand: ``abnormality`` -> ``abn.`` or ``abnorm.`` (cut before a vowel)."""
    if len(core) < _TRUNCATE_MIN_LENGTH or not core.isalpha():
        return None
    cuts = [k for k in range(3, len(core) - 2) if core[k - 1] not in _VOWELS and core[k] in _VOWELS][:2]
    return core[:draw.rng.choice(cuts)] if cuts else None


def medical_abbreviations(text: str, params: Mapping[str, Any]) -> str:
    """Table phrases are contracted or expanded ("CT" <-> "computed tomography") with probability ``rate``;
    other long words are cut to clinical shorthand ("abnormality" -> "abn.") with probability ``truncate``."""
    rate, truncate = float(params["rate"]), float(params["truncate"])
    pieces = tokenize(text)
    where = [k for k, p in enumerate(pieces) if not p.isspace()]
    words = [pieces[k] for k in where]
    stream = draws(rng_of(params))
    i = 0
    while i < len(words):
        draw, n = next(stream), 1
        match = _abbreviation_at(words, i)
        if match is not None and not any(is_protected(w) for w in words[i:i + match[0]]):
            n, candidate = match
            if draw.gate < rate and not creates_protected(candidate):
                pieces[where[i]:where[i + n - 1] + 1] = [candidate] + [""] * (where[i + n - 1] - where[i])
        elif not is_protected(words[i]) and draw.gate < truncate:
            lead, core, trail = split_core(words[i])
            cut = _truncate(core, draw)
            candidate = lead + (cut or "") + ("" if trail.startswith(".") else ".") + trail
            if cut is not None and not creates_protected(candidate):
                pieces[where[i]] = candidate
        i += n
    return "".join(pieces)


# --- spelling --------------------------------------------------------------------------------

def _phonetic(core: str, draw: Draw) -> str | None:
    lower = core.lower()
    sites = [(m, repl) for pattern, repl in _PHONETIC for m in pattern.finditer(lower)]
    if not sites or not core.isalpha():
        return None
    m, repl = draw.rng.choice(sites)
    new = lower[:m.start()] + m.expand(repl) + lower[m.end():]
    return recase(core, new)


def clinical_misspellings(text: str, params: Mapping[str, Any]) -> str:
    """Known misspellings of drug, anatomy and finding words with probability ``rate``; other words get a
    plausible phonetic misspelling ("ph" -> "f", doubled or single consonants...) with probability ``fallback``."""
    rate, fallback = float(params["rate"]), float(params["fallback"])

    def edit(core: str, d: Draw) -> str | None:
        known = data.MISSPELLINGS.get(core.lower())
        if known:
            return recase(core, d.rng.choice(known)) if d.gate < rate else None
        if len(core) >= 4 and d.gate < fallback:
            return _phonetic(core, d)
        return None

    return map_words(text, params, edit)


# --- order -----------------------------------------------------------------------------------

def word_order_swaps(text: str, params: Mapping[str, Any]) -> str:
    """Adjacent unprotected words trade places with probability ``rate`` (punctuation stays where it was)."""
    rate = float(params["rate"])
    tokens = tokenize(text)
    index = [k for k, t in enumerate(tokens) if not t.isspace()]
    stream = draws(rng_of(params))
    gates = [next(stream).gate for _ in index]
    j = 0
    while j + 1 < len(index):
        a, b = index[j], index[j + 1]
        (la, ca, ta), (lb, cb, tb) = split_core(tokens[a]), split_core(tokens[b])
        if (gates[j] < rate and ca and cb and ca.lower() != cb.lower()
                and not is_protected(tokens[a]) and not is_protected(tokens[b])):
            if j == 0 and ca[:1].isupper() and ca[1:].islower() and cb.islower():
                ca, cb = ca.lower(), cb[:1].upper() + cb[1:]  # sentence case follows the first word
            tokens[a], tokens[b] = la + cb + ta, lb + ca + tb
            j += 2
            continue
        j += 1
    return "".join(tokens)


# --- format ----------------------------------------------------------------------------------

def _casings(core: str) -> list[str]:
    forms = [core.lower(), core.upper(), core[:1].upper() + core[1:].lower()]
    return [f for f in dict.fromkeys(forms) if f != core]


def casing_noise(text: str, params: Mapping[str, Any]) -> str:
    """Each unprotected word is, with probability ``rate``, re-cased (lower, UPPER, Title) or, with
    probability ``random_case``, given random letter case as from a stuck shift key."""
    rate, random_case = float(params["rate"]), float(params["random_case"])

    def edit(core: str, d: Draw) -> str | None:
        if d.gate >= rate or not any(c.isalpha() for c in core):
            return None
        if d.gate2 < random_case:
            flipped = "".join(c.swapcase() if d.rng.random() < 0.5 else c for c in core)
            if flipped != core:
                return flipped
        forms = _casings(core)
        return d.rng.choice(forms) if forms else None

    return map_words(text, params, edit)


def punctuation_noise(text: str, params: Mapping[str, Any]) -> str:
    """Next to each unprotected word, with probability ``rate``, a mark is dropped, swapped or added
    (question marks, commas, periods, hyphens and apostrophes)."""
    rate = float(params["rate"])

    def edit(lead: str, core: str, trail: str, d: Draw) -> str | None:
        if d.gate >= rate:
            return None
        ops = ["add"] + (["drop", "swap"] if trail else []) + (["inner"] if re.search(r"['\-/.]", core) else [])
        op = d.rng.choice(ops)
        if op == "add":
            trail = trail + d.rng.choice(data.PUNCTUATION_MARKS)
        elif op == "drop":
            trail = trail[:-1]
        elif op == "swap":
            trail = trail[:-1] + d.rng.choice([m for m in data.PUNCTUATION_MARKS if m != trail[-1]])
        else:
            core = re.sub(r"['\-/.]", "", core, count=1)
        return lead + core + trail

    return map_tokens(text, params, edit)


def whitespace_noise(text: str, params: Mapping[str, Any]) -> str:
    """Spaces become doubled, tabs, line breaks or non-breaking spaces with probability ``rate``; the space
    after a punctuation mark goes missing with probability ``missing_space``; words are kept."""
    rate, missing = float(params["rate"]), float(params["missing_space"])
    tokens, stream = tokenize(text), draws(rng_of(params))
    out: list[str] = []
    for k, token in enumerate(tokens):
        if not token.isspace():
            out.append(token)
            continue
        d = next(stream)
        before = tokens[k - 1] if k > 0 else ""
        after = tokens[k + 1] if k + 1 < len(tokens) else ""
        glue_ok = (before and after and split_core(before)[2] and not is_protected(before)
                   and not is_protected(after) and not is_protected(before + after))
        if glue_ok and d.gate2 < missing:
            continue
        out.append(d.rng.choice(data.WHITESPACE_VARIANTS) if d.gate < rate else token)
    return "".join(out)


# --- unicode ---------------------------------------------------------------------------------

def unicode_homoglyphs(text: str, params: Mapping[str, Any]) -> str:
    """In each unprotected word, with probability ``rate``, a fraction ``letters`` of the letters become
    Cyrillic/Greek look-alikes; with probability ``zero_width`` an invisible character is inserted."""
    rate, letters, zero_width = float(params["rate"]), float(params["letters"]), float(params["zero_width"])

    def edit(core: str, d: Draw) -> str | None:
        chars = list(core)
        order = [i for i, c in enumerate(chars) if c in data.HOMOGLYPHS]
        d.rng.shuffle(order)
        picks = [d.rng.random() for _ in chars]  # drawn for every letter: same glyphs at every severity
        if d.gate < rate and order:
            for i in order[:max(1, round(letters * len(order)))]:
                options = data.HOMOGLYPHS[chars[i]]
                chars[i] = options[int(picks[i] * len(options))]
        if d.gate2 < zero_width and len(chars) > 1:
            at = 1 + int(picks[0] * (len(chars) - 1))
            chars.insert(at, data.ZERO_WIDTH[int(picks[-1] * len(data.ZERO_WIDTH))])
        return "".join(chars)

    return map_words(text, params, edit)


# --- the catalogue ---------------------------------------------------------------------------

def _table(**columns: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


KEYBOARD_TYPOS = TextNoise(
    name="keyboard_typos", family="typo",
    description="Typing slips that hit a neighbouring key on a QWERTY keyboard, as in hurried ward notes.",
    rationale=("Hurried typing on ward keyboards and phone touch screens hits the neighbouring key, producing "
               "slips such as 'lefr' or 'pmeumonia'."),
    table=_table(rate=(0.06, 0.12, 0.2, 0.32, 0.48), insert_prob=(0.3,) * 5), fn=keyboard_typos)
OCR_CONFUSIONS = TextNoise(
    name="ocr_confusions", family="ocr",
    description="Letters misread by text recognition of a scanned or photographed request (rn/m, cl/d, l/I).",
    rationale=("Scanned or faxed request forms and photographed reports pass through text recognition, which "
               "confuses similar glyphs (rn/m, cl/d, l/I, 0/O)."),
    table=_table(rate=(0.06, 0.12, 0.2, 0.32, 0.48), edits=(1, 1, 1, 2, 2)), fn=ocr_confusions)
ASR_HOMOPHONES = TextNoise(
    name="asr_homophones", family="asr",
    description="Words replaced by sound-alikes, as dictation software mishears them (ileum/ilium, pleural/plural).",
    rationale=("Radiology and clinical notes are widely dictated; speech recognition substitutes sound-alike "
               "terms (ileum/ilium, pleural/plural, hypo/hyper)."),
    table=_table(rate=(0.12, 0.25, 0.4, 0.6, 0.85)), fn=asr_homophones)
SPLIT_WORDS = TextNoise(
    name="split_words", family="segmentation",
    description="Words broken in two by a stray space, as after line wrapping or dictation pauses.",
    rationale=("Dictation pauses, line wrapping in copied text and mobile keyboards break words in two, which "
               "defeats exact-term matching."),
    table=_table(rate=(0.06, 0.12, 0.2, 0.32, 0.48), min_length=(4,) * 5), fn=split_words)
MERGE_WORDS = TextNoise(
    name="merge_words", family="segmentation",
    description="Neighbouring words run together by a missed space bar.",
    rationale="Missed space bars on phones and text copied from narrow fields run neighbouring words together.",
    table=_table(rate=(0.06, 0.12, 0.2, 0.32, 0.48)), fn=merge_words)
MEDICAL_ABBREVIATIONS = TextNoise(
    name="medical_abbreviations", family="abbreviation",
    description="Clinical shorthand: terms contracted or spelled out (CT/computed tomography, x-ray/radiograph, abn.).",
    rationale=("Clinicians mix shorthand and full terms freely (CXR/chest radiograph, CT/computed tomography, "
               "abn.), and institutions differ in which they use."),
    table=_table(rate=(0.15, 0.35, 0.55, 0.75, 0.95), truncate=(0.05, 0.12, 0.2, 0.3, 0.42)),
    fn=medical_abbreviations)
CLINICAL_MISSPELLINGS = TextNoise(
    name="clinical_misspellings", family="spelling",
    description="Common real misspellings of drug, anatomy and finding names (neumonia, abdomin, lession).",
    rationale=("Drug, anatomy and finding names are long and unfamiliar and are frequently misspelled by "
               "patients and staff alike (neumonia, abdomin, lession)."),
    table=_table(rate=(0.1, 0.2, 0.35, 0.55, 0.8), fallback=(0.04, 0.08, 0.14, 0.22, 0.32)),
    fn=clinical_misspellings)
WORD_ORDER_SWAPS = TextNoise(
    name="word_order_swaps", family="order",
    description="Neighbouring words in the wrong order, as in hasty or non-native phrasing.",
    rationale=("Hasty writing, non-native speakers and template edits put neighbouring words in the wrong order "
               "while keeping the meaning readable to a person."),
    table=_table(rate=(0.04, 0.08, 0.14, 0.22, 0.34)), fn=word_order_swaps)
CASING_NOISE = TextNoise(
    name="casing_noise", family="format",
    description="Inconsistent capitals (all lower case, SHOUTED words, stuck shift key) as typed on phones.",
    rationale=("Text typed on phones, copied from all-caps legacy systems or written with a stuck shift key has "
               "inconsistent capitals."),
    table=_table(rate=(0.08, 0.16, 0.28, 0.42, 0.6), random_case=(0.0, 0.1, 0.2, 0.35, 0.5)), fn=casing_noise)
PUNCTUATION_NOISE = TextNoise(
    name="punctuation_noise", family="format",
    description="Question marks, commas, periods and hyphens dropped, swapped or added, as in quick messages.",
    rationale=("Messages and quick queries drop or misplace question marks, commas and hyphens, and copy-paste "
               "adds stray ones."),
    table=_table(rate=(0.08, 0.16, 0.28, 0.42, 0.6)), fn=punctuation_noise)
WHITESPACE_NOISE = TextNoise(
    name="whitespace_noise", family="format",
    description="Irregular spacing (double spaces, tabs, line breaks, missing space after commas) from copy and paste.",
    rationale=("Text pasted from PDFs, emails and electronic records carries double spaces, tabs, line breaks "
               "and missing spaces after commas."),
    table=_table(rate=(0.1, 0.2, 0.35, 0.5, 0.7), missing_space=(0.1, 0.2, 0.35, 0.5, 0.7)), fn=whitespace_noise)
UNICODE_HOMOGLYPHS = TextNoise(
    name="unicode_homoglyphs", family="unicode",
    description="Letters swapped for identical-looking Cyrillic or Greek ones and invisible characters, "
                "as pasted from web pages or PDFs.",
    rationale=("Text pasted from web pages, PDFs and messaging apps can carry look-alike Cyrillic or Greek "
               "letters and invisible characters that break string matching."),
    table=_table(rate=(0.06, 0.12, 0.2, 0.32, 0.48), letters=(0.2, 0.25, 0.3, 0.4, 0.5),
                 zero_width=(0.0, 0.0, 0.0, 0.15, 0.3)),
    fn=unicode_homoglyphs)

NOISES = (KEYBOARD_TYPOS, OCR_CONFUSIONS, ASR_HOMOPHONES, SPLIT_WORDS, MERGE_WORDS, MEDICAL_ABBREVIATIONS,
          CLINICAL_MISSPELLINGS, WORD_ORDER_SWAPS, CASING_NOISE, PUNCTUATION_NOISE, WHITESPACE_NOISE,
          UNICODE_HOMOGLYPHS)
