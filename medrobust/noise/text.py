"""The first text noises: character typos and word dropout, sparing protected tokens.

Protected tokens carry clinical meaning that a typo must not change silently:
negation ("no", "not", "without", "isn't"), laterality ("left", "right") and numbers
(digits or number words) with their units. Noises here never alter them.
"""

from __future__ import annotations

import random
import re
import string
from typing import Any, Mapping

from .base import TextNoise

__all__ = ["CHAR_TYPOS", "WORD_DROPOUT", "TEXT_NOISES", "NOISES", "NEGATIONS", "LATERALITY", "UNITS",
           "NUMBER_WORDS", "is_protected", "tokenize"]

NEGATIONS = frozenset({
    "no", "not", "without", "absent", "negative", "none", "never", "nor", "neither", "cannot",
    "can't", "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "won't", "hasn't",
    "haven't", "shouldn't", "n't"})
LATERALITY = frozenset({"left", "right", "bilateral", "unilateral", "ipsilateral", "contralateral"})
UNITS = frozenset({"mm", "cm", "m", "ml", "mg", "kg", "g", "hu", "%"})
NUMBER_WORDS = frozenset({
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "single", "double", "once", "twice"})
_NUMBER = re.compile(r"^\d+([.,]\d+)?(mm|cm|ml|mg|kg|g|%)?$")
_TOKEN = re.compile(r"\s+|[^\s]+")
_WORD_CORE = re.compile(r"^(\W*)(.*?)(\W*)$")


def tokenize(text: str) -> list[str]:
    """Split into alternating whitespace and non-whitespace runs (joins back exactly)."""
    return _TOKEN.findall(text)


def is_protected(token: str) -> bool:
    """True for negation, laterality, numbers (digits or number words) and units (punctuation ignored)."""
    core = token.strip(string.punctuation).lower().replace("\u2019", "'")
    return (core in NEGATIONS or core in LATERALITY or core in UNITS or core in NUMBER_WORDS
            or bool(_NUMBER.match(core)) or any(ch.isdigit() for ch in core))


def _typo(word: str, rng: random.Random) -> str:
    letters = string.ascii_lowercase
    op = rng.choice(("insert", "delete", "substitute", "transpose"))
    i = rng.randrange(len(word))
    if op == "insert":
        return word[:i] + rng.choice(letters) + word[i:]
    if op == "delete" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if op == "transpose" and len(word) > 1:
        i = min(i, len(word) - 2)
        if word[i] != word[i + 1]:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    replacement = rng.choice([c for c in letters if c != word[i].lower()])
    return word[:i] + replacement + word[i + 1:]


def _typo_unprotected(word: str, rng: random.Random) -> str:
    """A typo that does not turn the word into a protected token ("nod" -> "no")."""
    for _ in range(8):
        changed = _typo(word, rng)
        if not is_protected(changed):
            return changed
    return word


def char_typos(text: str, params: Mapping[str, Any]) -> str:
    """Each unprotected word is hit by a typo (insert, delete, substitute, transpose) with probability ``rate``."""
    rng = random.Random(int(params["seed"]))
    rate = float(params["rate"])
    out = []
    for token in tokenize(text):
        if token.isspace() or is_protected(token):
            out.append(token)
            continue
        lead, core, trail = _WORD_CORE.match(token).groups()  # type: ignore[union-attr]
        if core and rng.random() < rate:
            core = _typo_unprotected(core, rng)
        out.append(lead + core + trail)
    return "".join(out)


def word_dropout(text: str, params: Mapping[str, Any]) -> str:
    """Each unprotected word is dropped with probability ``rate``; at least one word stays."""
    rng = random.Random(int(params["seed"]))
    rate = float(params["rate"])
    words = text.split()
    draws = [rng.random() for _ in words]
    kept = [w for w, d in zip(words, draws) if is_protected(w) or d >= rate]
    if not kept and words:
        kept = [words[max(range(len(words)), key=lambda i: draws[i])]]
    # keep a trailing question mark if its word was dropped
    if words and words[-1].endswith("?") and kept and not kept[-1].endswith("?"):
        kept[-1] = kept[-1] + "?"
    return " ".join(kept)


CHAR_TYPOS = TextNoise(
    name="char_typos", family="typo",
    description="Character typos (insert, delete, substitute, transpose) as from hurried typing.",
    rationale=("Questions and requests are typed quickly on ward workstations and phones, so inserted, dropped, "
               "swapped and transposed letters are common."),
    table=[{"rate": r} for r in (0.05, 0.1, 0.2, 0.35, 0.5)],
    fn=char_typos,
)
WORD_DROPOUT = TextNoise(
    name="word_dropout", family="omission",
    description="Words dropped, as in terse or truncated clinical queries.",
    rationale=("Clinicians write terse, telegraphic queries and order text, and fields are truncated by length "
               "limits in order-entry systems."),
    table=[{"rate": r} for r in (0.05, 0.1, 0.2, 0.3, 0.45)],
    fn=word_dropout,
)

NOISES = (CHAR_TYPOS, WORD_DROPOUT)
TEXT_NOISES = NOISES
