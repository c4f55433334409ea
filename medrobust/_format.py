"""How numbers are written for people: in failure messages, the terminal, the certificate's text.

A leaf (no medrobust imports), so the core and the certificate format alike.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

__all__ = ["is_number", "number", "signed", "estimate_text", "json_text", "rounded"]


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any, digits: int = 3) -> str:
    """``0.944``; ``n/a`` for None, NaN or anything that is not a number."""
    return f"{value:.{digits}f}" if is_number(value) else "n/a"


def signed(value: Any, digits: int = 3) -> str:
    """``+0.012`` / ``-0.250``; ``n/a`` for anything that is not a number."""
    return f"{value:+.{digits}f}" if is_number(value) else "n/a"


def estimate_text(est: Any) -> str:
    """``0.944 [0.901, 0.970]`` from an estimate's JSON (``value``, ``low``, ``high``)."""
    if not isinstance(est, dict):
        return "n/a"
    return f"{number(est.get('value'))} [{number(est.get('low'))}, {number(est.get('high'))}]"


def rounded(value: Optional[float], digits: int = 6) -> Optional[float]:
    """``value`` rounded for a record; None for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value, digits)


def json_text(value: Any) -> str:
    """A JSON value as a short string: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
