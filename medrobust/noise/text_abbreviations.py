"""Clinical shorthand: table terms contracted or spelled out (CT <-> computed tomography), long words cut
to ad-hoc abbreviations (abnormality -> abn.).

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
from ._text_ops import Draw, creates_protected, draws, recase, rng_of, split_core, table_from_columns
from .base import TextNoise
from .text import is_protected, tokenize

__all__ = ["MEDICAL_ABBREVIATIONS", "NOISES"]

_TRUNCATE_MIN_LENGTH = 6
_VOWELS = frozenset("aeiouyAEIOUY")
_PHRASE_PART = re.compile(r"^([(\[\"']*)(.*?)([)\]\"',.?!;:]*)$", re.DOTALL)


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


MEDICAL_ABBREVIATIONS = TextNoise(
    name="medical_abbreviations", family="abbreviation",
    description="Clinical shorthand: terms contracted or spelled out (CT/computed tomography, x-ray/radiograph, abn.).",
    rationale=("Clinicians mix shorthand and full terms freely (CXR/chest radiograph, CT/computed tomography, "
               "abn.), and institutions differ in which they use."),
    table=table_from_columns(rate=(0.15, 0.35, 0.55, 0.75, 0.95), truncate=(0.05, 0.12, 0.2, 0.3, 0.42)),
    fn=medical_abbreviations)

NOISES = (MEDICAL_ABBREVIATIONS,)
