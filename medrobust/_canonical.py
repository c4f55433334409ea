"""Canonical JSON and every digest the harness computes: one recipe each, in one place.

A leaf: it imports nothing of medrobust's, so the core, the noises and the
certificate can all use it without import cycles.

* :func:`canonical_json`: RFC 8785 (JSON Canonicalization Scheme), NaN as null.
* :func:`sha256_json`: the sha256 of its UTF-8 bytes (compositions, journal keys, manifests, certificates).
* :func:`text_digest`: the sha256 of a text's UTF-8 bytes.
* :func:`image_digest`: the sha256 of an image's mode, size and pixels (format independent).
* :func:`sample_digest` / :func:`samples_digest`: a sample's content, and a list of samples in order.

The canonical form is RFC 8785, so that anyone can recompute a digest with an
independent implementation (the ``rfc8785`` package, or ``JSON.stringify`` with
sorted keys in JavaScript): object members sorted by the UTF-16 code units of
their names, no insignificant whitespace, strings escaped as ECMAScript's
``JSON.stringify`` escapes them (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other
controls as ``\\u00xx``, everything else as itself), numbers written as
ECMAScript writes a double (``1.0`` -> ``1``, ``1e-07`` -> ``1e-7``, ``1e21`` ->
``1e+21``, ``-0.0`` -> ``0``), UTF-8 bytes.

Python values are mapped to JSON first, and these mappings are part of the recipe:

* NaN and the infinities, which JSON cannot hold, are written as ``null`` (an
  undefined estimate is null in every certificate ever written).
* Tuples are arrays; a key that is not a string is written as ``str(key)``.
* An integer within +-(2**53 - 1) is written as itself. A larger one is a double
  to RFC 8785 (and to JavaScript), which may not hold it exactly: it is written
  as RFC 8785 writes that double when the text reads back as the same integer
  (``10**21`` -> ``1e+21``), and otherwise as a JSON string of its digits, as
  RFC 8785 (appendix D) and I-JSON (RFC 7493, 2.2) advise: most 63-bit noise
  seeds of a failure case's examples are such strings. Either way the text
  reads back to the same integer, and to the same canonical text.

One deviation from RFC 8785, which requires well-formed Unicode: a lone
surrogate (undecodable bytes in a model's answer, decoded with
``surrogateescape``) is written as a ``\\udxxx`` escape, as ECMAScript 2019's
``JSON.stringify`` writes it, instead of being refused, so that hostile model
text still digests, encodes as UTF-8 and reads back to the same string. A pair
of surrogates is the character it encodes in UTF-16 (as in JavaScript). A
certificate without lone surrogates is plain RFC 8785.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from typing import Any, Iterable

__all__ = ["canonical_json", "sha256_json", "text_digest", "image_digest", "sample_digest", "samples_digest"]

_MAX_SAFE_INTEGER = 2 ** 53 - 1
"""The largest integer every double can tell from its neighbours (ECMAScript's ``Number.MAX_SAFE_INTEGER``)."""

_ESCAPE = re.compile('[\\x00-\\x1f"\\\\\ud800-\udfff]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(data: Any) -> str:
    """The RFC 8785 canonical JSON text of ``data`` (NaN and infinities as null; see the module docstring).

    Raises:
        TypeError: ``data`` holds a value JSON has no form for (a set, bytes, a path...).
    """
    out: list[str] = []
    _write(data, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_integer(int(value)))
    elif isinstance(value, float):
        out.append(_number(float(value)) if math.isfinite(value) else "null")
    elif isinstance(value, dict):
        keys = tuple(value)
        if all(type(key) is str for key in keys):
            layout = _members(keys)  # rows of a certificate share a few key sets: laid out once each
        else:
            layout = _layout(keys)
        out.append("{")
        for i, (text, key) in enumerate(layout):
            out.append("," + text if i else text)
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _layout(keys: tuple[Any, ...]) -> tuple[tuple[str, Any], ...]:
    """An object's members in canonical order: for each, its written name and colon, and its key in the
    dict. A key that is not a string is named ``str(key)``; of keys with the same name (a surrogate pair
    and the character it encodes), the last one wins, as in a dict built from them."""
    members = {_join_surrogate_pairs(k if isinstance(k, str) else str(k)): k for k in keys}
    return tuple((_string(name) + ":", members[name]) for name in sorted(members, key=_utf16))


_members = functools.lru_cache(maxsize=1024)(_layout)
""":func:`_layout` of string keys, remembered (a tuple of ``str`` compares as its names do)."""


def _utf16(key: str) -> bytes:
    """The sort key of RFC 8785 3.2.3: a name's UTF-16 code units (big-endian bytes compare as they do)."""
    return key.encode("utf-16-be", "surrogatepass")


def _join_surrogate_pairs(text: str) -> str:
    """``text`` with each high + low surrogate pair joined into the character it encodes in UTF-16."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _string(text: str) -> str:
    """A JSON string as ECMAScript 2019's ``JSON.stringify`` writes it (RFC 8785 3.2.2.2, lone surrogates escaped)."""
    if _ESCAPE.search(text) is None:  # nothing to escape, no surrogate: most text
        return '"' + text + '"'
    return '"' + _ESCAPE.sub(_escape, _join_surrogate_pairs(text)) + '"'


def _integer(value: int) -> str:
    """An integer as itself; beyond +-(2**53 - 1) as RFC 8785 writes its double when that text reads back
    as the same integer, else as a JSON string of its digits (see the module docstring)."""
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return str(value)
    try:
        text = _number(float(value))
    except OverflowError:  # beyond the largest double
        return _string(str(value))
    return text if json.loads(text) == value else _string(str(value))


def _number(value: float) -> str:
    """A finite double as ECMAScript's ``Number.prototype.toString`` writes it (RFC 8785 3.2.2.3).

    Python's ``repr`` gives the same shortest digits that read back to the same double
    (the nearest such, on a tie); only their layout differs.
    """
    if value == 0:
        return "0"  # -0 too
    if value < 0:
        return "-" + _number(-value)
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    # the value is 0.DIGITS x 10**point (ECMAScript's s, k = len(digits), n = point)
    if len(digits) <= point <= 21:
        return digits + "0" * (point - len(digits))
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    power = point - 1
    sign = "+" if power >= 0 else "-"
    head = digits if len(digits) == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(power)}"


def sha256_json(data: Any) -> str:
    """sha256 (hex) of the UTF-8 bytes of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def text_digest(text: str) -> str:
    """sha256 (hex) of a text's UTF-8 bytes (lone surrogates kept as they are)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def image_digest(image: Any) -> str:
    """sha256 (hex) of a PIL image's mode, size and pixel bytes (format independent)."""
    h = hashlib.sha256()
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def _sample_fields(sample: Any) -> list[Any]:
    cached = getattr(sample, "image_sha256", None)
    return [sample.id, cached if isinstance(cached, str) else image_digest(sample.image), sample.question,
            sample.answer, sample.answer_type]


def sample_digest(sample: Any) -> str:
    """sha256 of one sample's id, image pixels, question, answer and answer type."""
    return sha256_json(_sample_fields(sample))


def samples_digest(samples: Iterable[Any]) -> str:
    """sha256 over every sample's id, image pixels, question, answer and answer type, in order."""
    h = hashlib.sha256()
    for sample in samples:
        h.update(canonical_json(_sample_fields(sample)).encode())
    return h.hexdigest()
