"""Canonical JSON and every digest the harness computes: one recipe each, in one place.

A leaf: it imports nothing of medrobust's, so the core, the noises and the
certificate can all use it without import cycles.

* :func:`canonical_json`: sorted keys, no insignificant whitespace, UTF-8, NaN as null.
* :func:`sha256_json`: the sha256 of that text (compositions, journal keys, manifests, certificates).
* :func:`text_digest`: the sha256 of a text's UTF-8 bytes.
* :func:`image_digest`: the sha256 of an image's mode, size and pixels (format independent).
* :func:`sample_digest` / :func:`samples_digest`: a sample's content, and a list of samples in order.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Iterable

__all__ = ["canonical_json", "sha256_json", "text_digest", "image_digest", "sample_digest", "samples_digest"]

_SURROGATES = re.compile("[\ud800-\udfff]")


def canonical_json(data: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 text, NaN and infinities as null.

    Lone surrogates (invalid UTF-8 decoded with ``surrogateescape``) are written as ``\\uXXXX``
    escapes, so the text always encodes as UTF-8 and parses back to the same strings.
    """
    text = json.dumps(_finite(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return _SURROGATES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def sha256_json(data: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``data``."""
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
    return [sample.id, image_digest(sample.image), sample.question, sample.answer, sample.answer_type]


def sample_digest(sample: Any) -> str:
    """sha256 of one sample's id, image pixels, question, answer and answer type."""
    return sha256_json(_sample_fields(sample))


def samples_digest(samples: Iterable[Any]) -> str:
    """sha256 over every sample's id, image pixels, question, answer and answer type, in order."""
    h = hashlib.sha256()
    for sample in samples:
        h.update(canonical_json(_sample_fields(sample)).encode())
    return h.hexdigest()
