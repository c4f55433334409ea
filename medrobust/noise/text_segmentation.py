"""Word boundaries and word order: words split by a stray space, run together, or swapped.

Each noise is a pure ``fn(text, params) -> text`` whose only randomness is
``random.Random(params["seed"])``, drawn per token whether or not the token is
edited (see :mod:`medrobust.noise._text_ops`), so the damage is nested and grows
with the severity. Protected tokens (negation, laterality, numbers, units; see
:func:`medrobust.noise.text.is_protected`) are spared, and no edit may create
one. Word lists are data in :mod:`medrobust.noise._text_data`.
"""

from __future__ import annotations

from typing import Any, Mapping

from ._text_ops import Draw, draws, map_words, rng_of, split_core, table_from_columns
from .base import TextNoise
from .text import is_protected, tokenize

__all__ = ["SPLIT_WORDS", "MERGE_WORDS", "WORD_ORDER_SWAPS", "NOISES"]

_SPLIT_MIN_PART = 2


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


# --- declarations ----------------------------------------------------------------------------

SPLIT_WORDS = TextNoise(
    name="split_words", family="segmentation",
    description="Words broken in two by a stray space, as after line wrapping or dictation pauses.",
    rationale=("Dictation pauses, line wrapping in copied text and mobile keyboards break words in two, which "
               "defeats exact-term matching."),
    table=table_from_columns(rate=(0.06, 0.12, 0.2, 0.32, 0.48), min_length=(4,) * 5), fn=split_words)
MERGE_WORDS = TextNoise(
    name="merge_words", family="segmentation",
    description="Neighbouring words run together by a missed space bar.",
    rationale="Missed space bars on phones and text copied from narrow fields run neighbouring words together.",
    table=table_from_columns(rate=(0.06, 0.12, 0.2, 0.32, 0.48)), fn=merge_words)
WORD_ORDER_SWAPS = TextNoise(
    name="word_order_swaps", family="order",
    description="Neighbouring words in the wrong order, as in hasty or non-native phrasing.",
    rationale=("Hasty writing, non-native speakers and template edits put neighbouring words in the wrong order "
               "while keeping the meaning readable to a person."),
    table=table_from_columns(rate=(0.04, 0.08, 0.14, 0.22, 0.34)), fn=word_order_swaps)

NOISES = (SPLIT_WORDS, MERGE_WORDS, WORD_ORDER_SWAPS)
