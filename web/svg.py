"""The small pieces every chart is drawn with: inline SVG as strings, real text, no JavaScript.

Charts go into pages and into PDFs (WeasyPrint draws SVG as vectors), so a drawing must be
self-contained: no external fonts, images, scripts or CSS. Every text is escaped here, so a chart
never passes a document's text through as markup.

The pieces: :func:`frame` (the ``<svg>`` element), :func:`nice_ticks` and :class:`Scale` (where values
go), :func:`y_axis` / :func:`x_axis` (grid, tick marks and tick labels), :func:`bar`, :func:`line`
(a data series), :func:`dots` (point markers), :func:`rule` (a straight line), :func:`marker` (a labelled
reference line), :func:`text`, :func:`title` (a tooltip), :func:`path` (a shape, such as a country),
:func:`link` and :func:`group`. Numbers are formatted by the caller with :mod:`web.formatting`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
AXIS_COLOUR = "#444"
GRID_COLOUR = "#e3e3e3"
LABEL_COLOUR = "#555"
TEXT_COLOUR = "#222"


def coordinate(value: float) -> str:
    """A coordinate with at most two decimals (``12``, ``12.5``, ``12.25``)."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attributes(values: dict[str, object]) -> str:
    parts = []
    for name, value in values.items():
        if value is None or value == "":
            continue
        shown = coordinate(value) if isinstance(value, float) else str(value)
        parts.append(f' {name.rstrip("_").replace("_", "-")}="{escape(shown)}"')
    return "".join(parts)


def frame(width: int, height: int, body: Iterable[str], *, css_class: str, label: str | None = None,
          fluid: bool = False, background: str | None = None, font_family: str | None = None,
          font_size: int | None = None, role: str = "img") -> str:
    """The ``<svg>`` element around ``body``, ``width`` × ``height`` user units.

    ``label`` names the chart for screen readers (``aria-label`` and ``<title>``). A ``fluid`` chart fills
    its container's width (keeping its proportions); otherwise it is drawn at its own size. ``role`` is
    ``img`` for a picture; a drawing with links in it is a ``group`` (an image's content is hidden from
    assistive technology, its links with it).
    """
    size: dict[str, object] = ({"width": "100%", "preserveAspectRatio": "xMinYMin meet"} if fluid
                               else {"width": width, "height": height})
    opening = "<svg" + _attributes({
        "class": css_class, "xmlns": SVG_NAMESPACE, "viewBox": f"0 0 {width} {height}", **size, "role": role,
        "aria-label": label, "font-family": font_family, "font-size": font_size}) + ">"
    head = [opening]
    if label:
        head.append(title(label))
    if background:
        head.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="{escape(background)}"/>')
    return "".join([*head, *body, "</svg>"])


def text(x: float, y: float, content: str, *, anchor: str | None = None, size: int | None = None,
         weight: str | None = None, fill: str | None = TEXT_COLOUR, rotate: float | None = None) -> str:
    """A text at (``x``, ``y``), ``anchor`` ``start``/``middle``/``end``, turned ``rotate`` degrees about that point."""
    transform = f"rotate({coordinate(rotate)} {coordinate(x)} {coordinate(y)})" if rotate else None
    return ("<text" + _attributes({"x": float(x), "y": float(y), "font-size": size, "font-weight": weight,
                                   "fill": fill, "text-anchor": anchor, "transform": transform})
            + f">{escape(str(content))}</text>")


def rule(x1: float, y1: float, x2: float, y2: float, *, stroke: str = AXIS_COLOUR, width: float | None = None,
         dash: str | None = None) -> str:
    """A straight line from (``x1``, ``y1``) to (``x2``, ``y2``); ``dash`` is an SVG dash pattern (``"3 3"``)."""
    return "<line" + _attributes({"x1": float(x1), "y1": float(y1), "x2": float(x2), "y2": float(y2),
                                  "stroke": stroke, "stroke-width": width, "stroke-dasharray": dash}) + "/>"


def line(xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray, *, stroke: str, width: float,
         dash: str | None = None) -> str:
    """A data series through the points (``xs[i]``, ``ys[i]``), in drawing coordinates."""
    points = " ".join(f"{coordinate(a)},{coordinate(b)}" for a, b in zip(xs, ys, strict=True))
    return ('<polyline points="' + points + '"' + _attributes({
        "fill": "none", "stroke": stroke, "stroke-width": width, "stroke-dasharray": dash,
        "stroke-linejoin": "round"}) + "/>")


def dots(xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray, *, radius: float, stroke: str,
         fill: str = "#ffffff") -> str:
    """Open circle markers at the points (``xs[i]``, ``ys[i]``): a series told apart by shape, not colour alone."""
    return "<g" + _attributes({"fill": fill, "stroke": stroke, "stroke-width": 1.5}) + ">" + "".join(
        "<circle" + _attributes({"cx": float(x), "cy": float(y), "r": float(radius)}) + "/>"
        for x, y in zip(xs, ys, strict=True)) + "</g>"


def bar(x: float, y: float, width: float, height: float, *, fill: str, rx: float | None = None,
        tooltip: str | None = None) -> str:
    """A bar with its top-left corner at (``x``, ``y``); a negative ``height`` grows upwards from ``y``.

    ``tooltip`` is shown on hover (an SVG ``<title>``).
    """
    if height < 0:
        y, height = y + height, -height
    attributes = _attributes({"x": float(x), "y": float(y), "width": float(width), "height": float(height),
                              "rx": rx, "fill": fill})
    if tooltip is None:
        return f"<rect{attributes}/>"
    return f"<rect{attributes}>{title(tooltip)}</rect>"


def title(content: str) -> str:
    """A tooltip for the element it is placed in (shown on hover, read by screen readers)."""
    return f"<title>{escape(str(content))}</title>"


def marker(x: float, top: float, bottom: float, label: str, *, colour: str, dash: str = "4 3",
           size: int = 11) -> str:
    """A dashed vertical reference line at ``x`` from ``top`` to ``bottom``, labelled at its top right."""
    return (rule(x, top, x, bottom, stroke=colour, dash=dash)
            + (text(x + 4, top + 10, label, size=size, fill=colour) if label else ""))


def link(inner: str, href: str | None, *, label: str | None = None) -> str:
    """``inner`` wrapped in a link to ``href`` (when there is one); ``label`` names it for screen readers."""
    if not href:
        return inner
    return "<a" + _attributes({"href": href, "aria-label": label}) + f">{inner}</a>"


def path(data: str, *, fill: str, stroke: str | None = None, width: float | None = None,
         tooltip: str | None = None, **data_attributes: str) -> str:
    """A shape drawn by SVG path ``data`` (``M1,2L3,4Z``); ``data_attributes`` become ``data-*`` attributes
    (``data_country="SE"`` → ``data-country="SE"``)."""
    attributes = _attributes({"d": data, "fill": fill, "stroke": stroke, "stroke-width": width,
                              **{k.replace("_", "-"): v for k, v in data_attributes.items()}})
    return f"<path{attributes}>{title(tooltip)}</path>" if tooltip else f"<path{attributes}/>"


def group(inner: str) -> str:
    """``inner`` as one group (one bar and its labels, say)."""
    return f"<g>{inner}</g>"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^k steps)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while True:
        ticks.append(round(value, 10))
        if value >= hi - step * 1e-9:
            break
        value += step
    if len(ticks) < 2:
        ticks.append(round(start + step, 10))
    return ticks


@dataclass(frozen=True)
class Scale:
    """A linear map from data values [``lo``, ``hi``] to drawing coordinates [``start``, ``end``].

    ``end`` may be less than ``start`` (a y axis, drawn downwards). A scale over an empty range puts every
    value at ``start``.
    """

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return self.start
        return self.start + (float(value) - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def many(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Every value of ``values`` (shape ``(n,)``) mapped, as an array of shape ``(n,)``."""
        values = np.asarray(values, dtype=float)
        if self.hi == self.lo:
            return np.full(values.shape, self.start)
        return self.start + (values - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def y_axis(ticks: Iterable[float], y_of: Callable[[float], float], *, left: float, right: float,
           label_of: Callable[[float], str], size: int = 10, gap: float = 6, grid: str = GRID_COLOUR,
           fill: str = LABEL_COLOUR) -> list[str]:
    """Horizontal grid lines from ``left`` to ``right`` at ``ticks``, each labelled ``gap`` left of the plot."""
    out: list[str] = []
    for tick in ticks:
        y = y_of(tick)
        out.append(rule(left, y, right, y, stroke=grid, width=1))
        out.append(text(left - gap, y + 4, label_of(tick), anchor="end", size=size, fill=fill))
    return out


def x_axis(ticks: Iterable[float], x_of: Callable[[float], float], *, baseline: float,
           label_of: Callable[[float], str], size: int = 10, tick_length: float = 4,
           fill: str = LABEL_COLOUR) -> list[str]:
    """Tick marks below ``baseline`` at ``ticks`` (none when ``tick_length`` is 0), labelled beneath."""
    out: list[str] = []
    for tick in ticks:
        x = x_of(tick)
        if tick_length:
            out.append(rule(x, baseline, x, baseline + tick_length))
        out.append(text(x, baseline + 16, label_of(tick), anchor="middle", size=size, fill=fill))
    return out
