"""Text format: inconsistent casing, stray or missing punctuation, irregular whitespace and Unicode
look-alikes, as text is typed on phones or pasted from other systems.

Each noise is a pure ``fn(text, params) -> text`` whose only randomness is
``random.Random(params["seed"])``, drawn per token whether or not the token is
edited (see :mod:`medrobust.noise._text_ops`), so the damage is nested and grows
with the severity. Protected tokens (negation, laterality, numbers, units; see
:func:`medrobust.noise.text.is_protected`) are spared, and no edit may create
one. Word lists are data in :mod:`medrobust.noise._text_data`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from . import _text_data as data
from ._text_ops import Draw, draws, map_tokens, map_words, rng_of, split_core, table_from_columns
from .base import TextNoise
from .text import is_protected, tokenize

__all__ = ["CASING_NOISE", "PUNCTUATION_NOISE", "WHITESPACE_NOISE", "UNICODE_HOMOGLYPHS", "NOISES"]


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


# --- declarations ----------------------------------------------------------------------------

CASING_NOISE = TextNoise(
    name="casing_noise", family="format",
    description="Inconsistent capitals (all lower case, SHOUTED words, stuck shift key) as typed on phones.",
    rationale=("Text typed on phones, copied from all-caps legacy systems or written with a stuck shift key has "
               "inconsistent capitals."),
    table=table_from_columns(rate=(0.08, 0.16, 0.28, 0.42, 0.6), random_case=(0.0, 0.1, 0.2, 0.35, 0.5)), fn=casing_noise)
PUNCTUATION_NOISE = TextNoise(
    name="punctuation_noise", family="format",
    description="Question marks, commas, periods and hyphens dropped, swapped or added, as in quick messages.",
    rationale=("Messages and quick queries drop or misplace question marks, commas and hyphens, and copy-paste "
               "adds stray ones."),
    table=table_from_columns(rate=(0.08, 0.16, 0.28, 0.42, 0.6)), fn=punctuation_noise)
WHITESPACE_NOISE = TextNoise(
    name="whitespace_noise", family="format",
    description="Irregular spacing (double spaces, tabs, line breaks, missing space after commas) from copy and paste.",
    rationale=("Text pasted from PDFs, emails and electronic records carries double spaces, tabs, line breaks "
               "and missing spaces after commas."),
    table=table_from_columns(rate=(0.1, 0.2, 0.35, 0.5, 0.7), missing_space=(0.1, 0.2, 0.35, 0.5, 0.7)), fn=whitespace_noise)
UNICODE_HOMOGLYPHS = TextNoise(
    name="unicode_homoglyphs", family="unicode",
    description="Letters swapped for identical-looking Cyrillic or Greek ones and invisible characters, "
                "as pasted from web pages or PDFs.",
    rationale=("Text pasted from web pages, PDFs and messaging apps can carry look-alike Cyrillic or Greek "
               "letters and invisible characters that break string matching."),
    table=table_from_columns(rate=(0.06, 0.12, 0.2, 0.32, 0.48), letters=(0.2, 0.25, 0.3, 0.4, 0.5),
                 zero_width=(0.0, 0.0, 0.0, 0.15, 0.3)),
    fn=unicode_homoglyphs)

NOISES = (CASING_NOISE, PUNCTUATION_NOISE, WHITESPACE_NOISE, UNICODE_HOMOGLYPHS)
