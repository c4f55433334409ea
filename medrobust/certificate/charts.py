"""Chart geometry for the certificate's inline SVG: numbers and path strings, no markup.

The template only places what these functions compute. Colours are chosen so that a
greyscale print still reads: series differ by dash pattern and marker as well as hue,
and the heat map's ramp is monotonic in lightness with every cell's value printed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence

__all__ = ["Tick", "Series", "LineChart", "HeatCell", "HeatMap", "curve_chart", "heat_map", "contrast_ratio",
           "relative_luminance"]

_FONT_PX = 11
_CHAR_PX = 6.4  # average advance of an 11 px sans-serif glyph, for label widths


@dataclasses.dataclass(frozen=True)
class Tick:
    """An axis tick: its position in SVG units along the axis and its label."""

    pos: float
    label: str


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a chart: its path, optional confidence band, markers and look."""

    label: str
    path: str
    band: Optional[str]
    points: list[tuple[float, float]]
    stroke: str
    dash: str
    marker: str  # "circle" or "square"


@dataclasses.dataclass(frozen=True)
class LineChart:
    """A metric-vs-severity chart: plot box, ticks and series in SVG user units."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    title: str
    description: str


@dataclasses.dataclass(frozen=True)
class HeatCell:
    """One rectangle of the heat map with its printed value."""

    x: float
    y: float
    w: float
    h: float
    fill: str
    text: str
    text_fill: str
    label: str


@dataclasses.dataclass(frozen=True)
class HeatMap:
    """A noise x severity grid of metric drops, with row/column labels and a legend."""

    width: int
    height: int
    cells: list[HeatCell]
    row_labels: list[Tick]
    col_labels: list[Tick]
    label_x: float
    header_y: float
    legend: list[HeatCell]
    legend_y: float
    title: str
    description: str


def _num(value: float) -> str:
    """Compact SVG number: one decimal, no trailing zero."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _finite(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _y_domain(values: Sequence[float]) -> tuple[float, float]:
    """[0, 1] when every value is a proportion, else a padded range rounded to tenths."""
    if not values or (min(values) >= 0.0 and max(values) <= 1.0):
        return 0.0, 1.0
    lo, hi = math.floor(min(values) * 10) / 10, math.ceil(max(values) * 10) / 10
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def curve_chart(metric: str, noise: str, points: Sequence[dict[str, Any]], *, width: int = 280,
                height: int = 180) -> LineChart:
    """Geometry of one robustness curve: ``metric`` against severity under ``noise``.

    Args:
        metric: metric name, used in the title.
        noise: noise name, used in the title.
        points: ``[{"severity", "value", "low", "high", "uncalibrated"}]`` as in the
            certificate's ``results.curves[].points``; severity 0 is the clean point.
        width: SVG width in user units.
        height: SVG height in user units.

    Returns:
        A :class:`LineChart`; ``description`` states every plotted number in words.
    """
    rows = sorted((p for p in points if _finite(p.get("severity")) is not None), key=lambda p: p["severity"])
    left, top, right, bottom = 40.0, 12.0, width - 10.0, height - 30.0
    values = [v for p in rows for v in (_finite(p.get(k)) for k in ("value", "low", "high", "uncalibrated"))
              if v is not None]
    y0, y1 = _y_domain(values)
    severities = [int(p["severity"]) for p in rows] or [0]
    s_lo, s_hi = min(severities), max(max(severities), min(severities) + 1)

    def sx(s: float) -> float:
        return left + (s - s_lo) / (s_hi - s_lo) * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    def line(key: str) -> tuple[str, list[tuple[float, float]]]:
        pts = [(sx(p["severity"]), sy(v)) for p in rows if (v := _finite(p.get(key))) is not None]
        path = " ".join(f"{'M' if i == 0 else 'L'}{_num(x)},{_num(y)}" for i, (x, y) in enumerate(pts))
        return path, [(round(x, 1), round(y, 1)) for x, y in pts]

    series = []
    path, pts = line("value")
    banded = [p for p in rows if _finite(p.get("low")) is not None and _finite(p.get("high")) is not None]
    band = None
    if len(banded) >= 2:
        upper = [f"{_num(sx(p['severity']))},{_num(sy(p['high']))}" for p in banded]
        lower = [f"{_num(sx(p['severity']))},{_num(sy(p['low']))}" for p in reversed(banded)]
        band = "M" + " L".join(upper + lower) + " Z"
    if pts:
        series.append(Series("measured", path, band, pts, "#1f4e9c", "", "circle"))
    path, pts = line("uncalibrated")
    if pts:
        series.append(Series("without calibrator", path, None, pts, "#8a3b00", "5 3", "square"))
    y_ticks = [Tick(round(sy(y0 + (y1 - y0) * i / 4), 1), f"{y0 + (y1 - y0) * i / 4:.2f}") for i in range(5)]
    x_ticks = [Tick(round(sx(s), 1), "clean" if s == 0 else str(s)) for s in range(s_lo, s_hi + 1)]
    said = "; ".join(
        f"{'clean' if p['severity'] == 0 else 'severity ' + str(p['severity'])}: "
        + _say(p.get("value"), p.get("low"), p.get("high"))
        + (f", without calibrator {_say(p.get('uncalibrated'))}" if _finite(p.get("uncalibrated")) is not None else "")
        for p in rows)
    return LineChart(width, height, left, top, right, bottom, x_ticks, y_ticks, series,
                     f"{metric} under {noise} by severity",
                     f"{metric} under {noise}. {said or 'No points recorded.'}")


def _say(value: Any, low: Any = None, high: Any = None) -> str:
    v = _finite(value)
    if v is None:
        return "not available"
    lo, hi = _finite(low), _finite(high)
    return f"{v:.3f}" + (f" (95% CI {lo:.3f} to {hi:.3f})" if lo is not None and hi is not None else "")


# lightness ramp (white to deep purple): distinct in greyscale, passes contrast with its text colour
_RAMP = [(0xf7, 0xf4, 0xf9), (0xd4, 0xb9, 0xda), (0xc9, 0x94, 0xc7), (0x98, 0x4e, 0xa3), (0x54, 0x27, 0x88),
         (0x2d, 0x00, 0x4b)]


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    def linear(c: int) -> float:
        c8 = c / 255
        return c8 / 12.92 if c8 <= 0.04045 else ((c8 + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


_INKS = ("#1b1f24", "#ffffff")


def _ramp(t: float) -> tuple[str, str]:
    """Fill for ``t`` in [0, 1] and the text colour (dark or white) that contrasts with it more."""
    t = min(1.0, max(0.0, t)) * (len(_RAMP) - 1)
    i = min(int(t), len(_RAMP) - 2)
    f = t - i
    rgb = [a + (b - a) * f for a, b in zip(_RAMP[i], _RAMP[i + 1])]
    fill = "#%02x%02x%02x" % tuple(round(c) for c in rgb)
    # mid-tones that neither ink reads on at 4.5:1 are darkened until white text does
    while max(contrast_ratio(fill, ink) for ink in _INKS) < 4.5:
        rgb = [c * 0.97 for c in rgb]
        fill = "#%02x%02x%02x" % tuple(round(c) for c in rgb)
    return fill, max(_INKS, key=lambda ink: contrast_ratio(fill, ink))


def heat_map(metric: str, noises: Sequence[str], severities: Sequence[int],
             cells: Sequence[Sequence[Any]], *, cell_w: int = 56, cell_h: int = 22) -> HeatMap:
    """Geometry of the noise x severity heat map of metric drops (clean minus noisy).

    Args:
        metric: metric name, used in the title.
        noises: row labels.
        severities: column labels.
        cells: ``cells[i][j]`` is the drop under ``noises[i]`` at ``severities[j]``, or None.
        cell_w: cell width in user units.
        cell_h: cell height in user units.

    Returns:
        A :class:`HeatMap`; darker means a larger drop, negative drops (gains) are shown
        with the lightest fill, missing cells as "n/a".
    """
    label_w = max([len(n) for n in noises] + [5]) * _CHAR_PX + 12
    header = 30.0
    drops = [v for row in cells for c in row if (v := _finite(c)) is not None]
    top = max([0.0] + drops)
    scale = max(0.1, math.ceil(top * 20) / 20)
    out = []
    for i, noise in enumerate(noises):
        row = list(cells[i]) if i < len(cells) else []
        for j, sev in enumerate(severities):
            value = _finite(row[j]) if j < len(row) else None
            if value is None:
                fill, ink, text = "#ffffff", "#57606a", "n/a"
            else:
                fill, ink = _ramp(value / scale)
                text = f"{value:+.2f}"
            out.append(HeatCell(label_w + j * cell_w, header + i * cell_h, cell_w, cell_h, fill, text, ink,
                                f"{noise} at severity {sev}: drop {text}"))
    grid_bottom = header + len(noises) * cell_h
    legend_y = grid_bottom + 14
    steps = 5
    legend = []
    for k in range(steps + 1):
        fill, ink = _ramp(k / steps)
        legend.append(HeatCell(label_w + k * cell_w, legend_y, cell_w, cell_h, fill, f"{scale * k / steps:.2f}",
                               ink, ""))
    width = int(label_w + max(len(severities), steps + 1) * cell_w + 4)
    height = int(legend_y + cell_h + 4)
    rows = [Tick(header + i * cell_h + cell_h / 2, n) for i, n in enumerate(noises)]
    cols = [Tick(label_w + j * cell_w + cell_w / 2, str(s)) for j, s in enumerate(severities)]
    worst = max(((c.label, _finite(cells[i][j]))
                 for i in range(len(noises)) for j in range(len(severities))
                 if i < len(cells) and j < len(cells[i]) and _finite(cells[i][j]) is not None
                 for c in [out[i * len(severities) + j]]), key=lambda t: t[1], default=None)
    description = (f"Drop of {metric} (clean minus noisy) for {len(noises)} noises at severities "
                   f"{', '.join(str(s) for s in severities)}. "
                   + (f"Largest: {worst[0]}." if worst else "No values recorded.")
                   + " Every value is also given in a table.")
    return HeatMap(width, height, out, rows, cols, label_w - 6, header - 10, legend, legend_y,
                   f"Drop of {metric} by noise and severity", description)
