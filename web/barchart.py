"""Small server-rendered bar charts for the overview page: inline SVG, no JavaScript, real text."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

BAR_COLOUR = "#1f5f99"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    display: str
    href: str | None = None


def _wrap_link(inner: str, href: str | None) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def horizontal_bars(bars: list[Bar], width: int = 420, row: int = 24, label_width: int = 170) -> Markup:
    """One labelled horizontal bar per item, longest first as given."""
    if not bars:
        return Markup('<p class="muted">–</p>')
    top = max(b.value for b in bars) or 1.0
    plot = width - label_width - 95  # room for the value after the longest bar
    height = row * len(bars) + 4
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMinYMin meet" font-family="{FONT}" font-size="12">']
    for i, bar in enumerate(bars):
        y = i * row + 2
        w = max(1.0, plot * bar.value / top) if bar.value else 0.0
        label = escape(bar.label if len(bar.label) <= 26 else bar.label[:25] + "…")
        inner = (f'<title>{escape(bar.label)}: {escape(bar.display)}</title>'
                 f'<text x="{label_width - 6}" y="{y + row / 2 + 4:.1f}" text-anchor="end" fill="#222">{label}</text>'
                 f'<rect x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" rx="2" fill="{BAR_COLOUR}"/>'
                 f'<text x="{label_width + w + 5:.1f}" y="{y + row / 2 + 4:.1f}" fill="#333">'
                 f'{escape(bar.display)}</text>')
        parts.append("<g>" + _wrap_link(inner, bar.href) + "</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(bars: list[Bar], width: int = 560, height: int = 180) -> Markup:
    """Vertical columns (e.g. one per year) with the value above and the label below each."""
    if not bars:
        return Markup('<p class="muted">–</p>')
    top = max(b.value for b in bars) or 1.0
    bottom, head = 22, 18
    plot_h = height - bottom - head
    margin = 24  # keeps the first and last value labels inside the drawing
    step = (width - 2 * margin) / len(bars)
    bar_w = max(2.0, step * 0.7)
    label_every = max(1, round(len(bars) / 14))  # keep year labels from overlapping
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMinYMin meet" font-family="{FONT}" font-size="11">',
             f'<line x1="0" x2="{width}" y1="{height - bottom}" y2="{height - bottom}" stroke="#999"/>']
    for i, bar in enumerate(bars):
        h = plot_h * bar.value / top if bar.value else 0.0
        x = margin + i * step + (step - bar_w) / 2
        cx = margin + i * step + step / 2
        inner = (f'<title>{escape(bar.label)}: {escape(bar.display)}</title>'
                 f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                 f'fill="{BAR_COLOUR}"/>')
        if len(bars) <= 12:
            inner += (f'<text x="{cx:.1f}" y="{height - bottom - h - 4:.1f}" text-anchor="middle" '
                      f'fill="#333">{escape(bar.display)}</text>')
        if i % label_every == 0:
            inner += (f'<text x="{cx:.1f}" y="{height - 6}" text-anchor="middle" fill="#222">'
                      f'{escape(bar.label)}</text>')
        parts.append("<g>" + _wrap_link(inner, bar.href) + "</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
