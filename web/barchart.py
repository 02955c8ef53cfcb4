"""Small bar charts for the overview page, drawn with :mod:`web.svg`: one bar per item, each a link."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from web import svg

BAR_COLOUR = "#1f5f99"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
EMPTY = Markup('<p class="muted">–</p>')


@dataclass(frozen=True)
class Bar:
    """One item: its ``label``, the ``value`` the bar's length shows, that value as text, and a link."""

    label: str
    value: float
    display: str
    href: str | None = None


def _item(bar: Bar, inner: str) -> str:
    return svg.group(svg.link(svg.title(f"{bar.label}: {bar.display}") + inner, bar.href))


def _role(bars: list[Bar]) -> str:
    """An image, or a group when its bars are links (an image cannot hold links)."""
    return "group" if any(bar.href for bar in bars) else "img"


def horizontal_bars(bars: list[Bar], width: int = 420, row: int = 24, label_width: int = 170, *,
                    label: str | None = None) -> Markup:
    """One labelled horizontal bar per item, longest first as given; ``label`` names the chart."""
    if not bars:
        return EMPTY
    top = max(b.value for b in bars) or 1.0
    plot = width - label_width - 95  # room for the value after the longest bar
    parts = []
    for i, bar in enumerate(bars):
        y = i * row + 2
        length = max(1.0, plot * bar.value / top) if bar.value else 0.0
        shown = bar.label if len(bar.label) <= 26 else bar.label[:25] + "…"
        parts.append(_item(bar, svg.text(label_width - 6, y + row / 2 + 4, shown, anchor="end")
                           + svg.bar(label_width, y + 3, length, row - 8, fill=BAR_COLOUR, rx=2)
                           + svg.text(label_width + length + 5, y + row / 2 + 4, bar.display, fill="#333")))
    return Markup(svg.frame(width, row * len(bars) + 4, parts, css_class="chart", label=label, fluid=True,
                            font_family=FONT, font_size=12, role=_role(bars)))


def columns(bars: list[Bar], width: int = 560, height: int = 180, *, label: str | None = None) -> Markup:
    """Vertical columns (e.g. one per year) with the value above and the label below each; ``label`` names it."""
    if not bars:
        return EMPTY
    top = max(b.value for b in bars) or 1.0
    bottom, head = 22, 18
    plot_h = height - bottom - head
    margin = 24  # keeps the first and last value labels inside the drawing
    step = (width - 2 * margin) / len(bars)
    bar_w = max(2.0, step * 0.7)
    label_every = max(1, round(len(bars) / 14))  # keep year labels from overlapping
    parts = [svg.rule(0, height - bottom, width, height - bottom, stroke="#999")]
    for i, bar in enumerate(bars):
        h = plot_h * bar.value / top if bar.value else 0.0
        centre = margin + i * step + step / 2
        inner = svg.bar(centre - bar_w / 2, height - bottom, bar_w, -h, fill=BAR_COLOUR)
        if len(bars) <= 12:
            inner += svg.text(centre, height - bottom - h - 4, bar.display, anchor="middle", fill="#333")
        if i % label_every == 0:
            inner += svg.text(centre, height - 6, bar.label, anchor="middle")
        parts.append(_item(bar, inner))
    return Markup(svg.frame(width, height, parts, css_class="chart", label=label, fluid=True, font_family=FONT,
                            font_size=11, role=_role(bars)))
