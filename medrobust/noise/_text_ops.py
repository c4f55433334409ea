"""Shared machinery of the text noises: per-word seeded draws, word cores, casing, protection checks,
and severity tables declared by column."""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Iterator, Mapping

from .text import is_protected, tokenize

__all__ = ["Draw", "draws", "split_core", "recase", "creates_protected", "map_tokens", "map_words", "rng_of",
           "table_from_columns"]

_WORD_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


class Draw:
    """The random numbers one token gets, drawn whether or not the token is edited.

    Drawing the same numbers for every token keeps the noise nested across severities: a word edited
    at one severity is edited identically at every higher one (only the thresholds change).
    """

    __slots__ = ("gate", "gate2", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.gate = rng.random()
        self.gate2 = rng.random()
        self.rng = random.Random(rng.getrandbits(64))


def rng_of(params: Mapping[str, Any]) -> random.Random:
    """The noise's only source of randomness: ``random.Random(params["seed"])``."""
    return random.Random(int(params["seed"]))


def draws(rng: random.Random) -> Iterator[Draw]:
    """An endless stream of per-token draws."""
    while True:
        yield Draw(rng)


def split_core(token: str) -> tuple[str, str, str]:
    """``"(x-ray?"`` -> ``("(", "x-ray", "?")``: leading punctuation, the word, trailing punctuation."""
    lead, core, trail = _WORD_CORE.match(token).groups()  # type: ignore[union-attr]
    return lead, core, trail


def recase(template: str, word: str) -> str:
    """Give ``word`` the casing of ``template`` (UPPER, Capitalised or as written)."""
    if len(template) > 1 and template.isupper() and not word.isupper():
        return word.upper()
    if template[:1].isupper() and word[:1].islower():
        return word[:1].upper() + word[1:]
    return word


def creates_protected(text: str) -> bool:
    """True when any whitespace-separated token of ``text`` is protected."""
    return any(is_protected(t) for t in text.split())


def map_tokens(text: str, params: Mapping[str, Any],
               edit: Callable[[str, str, str, "Draw"], str | None]) -> str:
    """Apply ``edit(lead, core, trail, draw)`` to every unprotected word token; protected ones pass untouched.

    Each non-space token takes one draw, edited or not, so a word edited at one
    severity is edited the same way at higher ones. ``edit`` returns the new token
    or ``None`` to leave it; a result that would contain a protected token
    ("nod" -> "no") is rejected, so no noise can create one.
    """
    stream = draws(rng_of(params))
    out = []
    for token in tokenize(text):
        if token.isspace():
            out.append(token)
            continue
        draw = next(stream)
        lead, core, trail = split_core(token)
        if not core or is_protected(token):
            out.append(token)
            continue
        new = edit(lead, core, trail, draw)
        if new is not None and new != token and not creates_protected(new):
            token = new
        out.append(token)
    return "".join(out)


def map_words(text: str, params: Mapping[str, Any],
              edit: Callable[[str, "Draw"], str | None]) -> str:
    """:func:`map_tokens` for edits of the word alone: ``edit(core, draw)`` returns the new core or ``None``."""
    def edit_token(lead: str, core: str, trail: str, draw: "Draw") -> str | None:
        new = edit(core, draw)
        return None if new is None else lead + new + trail

    return map_tokens(text, params, edit_token)


def table_from_columns(**columns: tuple[Any, ...]) -> list[dict[str, Any]]:
    """A severity table from one tuple per parameter: ``rate=(0.1, ...), edits=(1, ...)`` gives
    ``[{"rate": 0.1, "edits": 1}, ...]``, one row per level, keys in argument order."""
    return [dict(zip(columns, values)) for values in zip(*columns.values())]
