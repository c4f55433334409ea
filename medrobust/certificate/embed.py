"""The certificate's JSON inside its HTML page, and the only images a page may show.

The JSON is embedded with ``<``, ``>`` and ``&`` as ``\\u`` escapes, so no string inside it can
end the ``<script>`` element (control and bidi characters too, so the page holds none raw);
:func:`embedded_certificate` reads it back. Image fields are used only when they are PNG data
URIs of real PNGs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Optional

from .._canonical import canonical_json

__all__ = ["embed_json", "embedded_certificate", "png_data_uri", "MAX_IMAGE_BYTES"]

MAX_IMAGE_BYTES = 256 * 1024
"""The largest embedded PNG a page shows."""

_JSON_UNSAFE = re.compile("[<>&\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_PNG_PREFIX = "data:image/png;base64,"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EMBED_START = '<script type="application/json" id="certificate-data">'


def embed_json(data: Any) -> str:
    """Canonical JSON of ``data`` with ``< > &``, DEL and C1 controls, bidi controls, U+2028/9 and lone
    surrogates as ``\\uXXXX`` (C0 controls are escaped by canonical JSON already).

    The result is valid JSON that parses back to the same value, contains no ``<``, and
    encodes as UTF-8 whatever strings ``data`` holds.
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", canonical_json(data))


def embedded_certificate(html: str) -> dict[str, Any]:
    """The certificate dict embedded in a page written by :func:`medrobust.certificate.render.render_html`.

    Raises:
        ValueError: the page has no ``certificate-data`` element or its content is not JSON (or nested
            too deeply to read).
    """
    start = html.find(_EMBED_START)
    if start < 0:
        raise ValueError('no <script type="application/json" id="certificate-data"> element in the page; '
                         "was it written by medrobust?")
    start += len(_EMBED_START)
    end = html.find("</script>", start)
    if end < 0:
        raise ValueError("the certificate-data element is not closed: the page is truncated")
    try:
        return json.loads(html[start:end])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the embedded certificate is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ValueError("the embedded certificate is JSON nested too deeply to read; not a medrobust "
                         "certificate (those nest about ten levels)") from None


def png_data_uri(value: Any) -> Optional[str]:
    """``value`` if it is a ``data:image/png;base64,`` URI of a real PNG (at most 256 KiB), else None."""
    if not isinstance(value, str) or not value.startswith(_PNG_PREFIX):
        return None
    payload = value[len(_PNG_PREFIX):]
    if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return value if raw.startswith(_PNG_MAGIC) else None
