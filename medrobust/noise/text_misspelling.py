"""Misspelled words, as typed, scanned, dictated or misremembered: keyboard slips, OCR confusions,
speech-recognition homophones and real clinical misspellings.

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
from ._text_ops import Draw, map_words, recase, table_from_columns
from .base import TextNoise

__all__ = ["KEYBOARD_TYPOS", "OCR_CONFUSIONS", "ASR_HOMOPHONES", "CLINICAL_MISSPELLINGS", "NOISES"]

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


# --- declarations ----------------------------------------------------------------------------

KEYBOARD_TYPOS = TextNoise(
    name="keyboard_typos", family="typo",
    description="Typing slips that hit a neighbouring key on a QWERTY keyboard, as in hurried ward notes.",
    rationale=("Hurried typing on ward keyboards and phone touch screens hits the neighbouring key, producing "
               "slips such as 'lefr' or 'pmeumonia'."),
    table=table_from_columns(rate=(0.06, 0.12, 0.2, 0.32, 0.48), insert_prob=(0.3,) * 5), fn=keyboard_typos)
OCR_CONFUSIONS = TextNoise(
    name="ocr_confusions", family="ocr",
    description="Letters misread by text recognition of a scanned or photographed request (rn/m, cl/d, l/I).",
    rationale=("Scanned or faxed request forms and photographed reports pass through text recognition, which "
               "confuses similar glyphs (rn/m, cl/d, l/I, 0/O)."),
    table=table_from_columns(rate=(0.06, 0.12, 0.2, 0.32, 0.48), edits=(1, 1, 1, 2, 2)), fn=ocr_confusions)
ASR_HOMOPHONES = TextNoise(
    name="asr_homophones", family="asr",
    description="Words replaced by sound-alikes, as dictation software mishears them (ileum/ilium, pleural/plural).",
    rationale=("Radiology and clinical notes are widely dictated; speech recognition substitutes sound-alike "
               "terms (ileum/ilium, pleural/plural, hypo/hyper)."),
    table=table_from_columns(rate=(0.12, 0.25, 0.4, 0.6, 0.85)), fn=asr_homophones)
CLINICAL_MISSPELLINGS = TextNoise(
    name="clinical_misspellings", family="spelling",
    description="Common real misspellings of drug, anatomy and finding names (neumonia, abdomin, lession).",
    rationale=("Drug, anatomy and finding names are long and unfamiliar and are frequently misspelled by "
               "patients and staff alike (neumonia, abdomin, lession)."),
    table=table_from_columns(rate=(0.1, 0.2, 0.35, 0.55, 0.8), fallback=(0.04, 0.08, 0.14, 0.22, 0.32)),
    fn=clinical_misspellings)

NOISES = (KEYBOARD_TYPOS, OCR_CONFUSIONS, ASR_HOMOPHONES, CLINICAL_MISSPELLINGS)
