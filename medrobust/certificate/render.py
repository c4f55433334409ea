"""The HTML view of a certificate: one jinja2 template, autoescaped, the canonical JSON embedded.

:func:`render_html` turns the certificate dict into a view (:mod:`.view`: plain dicts and lists,
chart geometry from :mod:`.charts`) and hands it to a template that only loops and branches.
Every string from a model, dataset or plugin reaches the page through autoescape; image
fields are used only when they are PNG data URIs; lone surrogates (invalid UTF-8 decoded
with ``surrogateescape``) are shown as U+FFFD so the page always encodes as UTF-8; control
characters (C0 but tab and newline, DEL, C1) and bidirectional controls (U+061C, U+200E/F,
U+202A-U+202E, U+2066-U+2069) are shown as the escapes ``\\x1b`` / ``\\u202e`` (``\\r`` for CR), so
that a NUL, a terminal escape or a right-to-left override in a model's answer can neither
hide nor reorder what the page shows. Both are done by :func:`_finalize`, which every
``{{ }}`` output passes through (text, attributes, SVG alike); the embedded JSON keeps the
exact text.
The JSON is embedded by :mod:`.embed`, so no string inside it can end the ``<script>`` element.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2
from markupsafe import Markup

from .._format import estimate_text, json_text, number, signed
from .embed import embed_json
from .view import build_view

__all__ = ["render_html", "DISPLAY_LIMIT"]

DISPLAY_LIMIT = 1000
"""Characters of one untrusted string shown on the page; the embedded JSON keeps all of it."""

_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters shown as escapes: C0 controls but tab and newline, DEL, C1 controls, bidi controls."""


def _escape_control(match: "re.Match[str]") -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` output: None as empty, lone surrogates as U+FFFD, control and bidi characters as
    visible escapes (``\\x00``, ``\\x1b``, ``\\u202e``)."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _CONTROLS.sub(_escape_control, _SURROGATES.sub("\ufffd", value))
    return value


def _clip(value: Any, limit: int = DISPLAY_LIMIT) -> str:
    """Text for display, cut at ``limit`` characters with a note saying how much was left out."""
    text = value if isinstance(value, str) else json_text(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit} more characters, in the embedded JSON]"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("medrobust.certificate", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    finalize=_finalize,
)
_ENV.filters.update(fmt=number, signed=signed, ci=estimate_text, clip=_clip, text=json_text)


def render_html(data: dict[str, Any]) -> str:
    """Render the certificate dict (as written to JSON) to one self-contained HTML page.

    Schema ``medrobust.certificate/1`` and ``/2`` both render; sections whose fields a
    certificate lacks say so instead of failing.
    """
    return _ENV.get_template("certificate.html.j2").render(v=build_view(data), embedded=Markup(embed_json(data)))
