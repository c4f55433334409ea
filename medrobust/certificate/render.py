"""The HTML view of a certificate: one jinja2 template, autoescaped, JSON embedded."""

from __future__ import annotations

from typing import Any

import jinja2

__all__ = ["render_html"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("medrobust.certificate", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


_ENV.filters["fmt"] = _fmt


def render_html(data: dict[str, Any]) -> str:
    """Render the certificate dict (as written to JSON) to a self-contained HTML page."""
    return _ENV.get_template("certificate.html.j2").render(cert=data)
