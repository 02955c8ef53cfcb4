"""The charts of contract pages, fact sheets and portfolio results, drawn with :mod:`web.svg`.

* :func:`payoff_chart_svg` draws a contract's payoff sweep (:mod:`registry.payoff`): investor repayment
  and outcome payer cost over the main outcome, with the capital invested as a reference line; a binary
  main outcome gives two bar groups ("not achieved" / "achieved").
* :func:`histogram_svg` draws a simulated distribution (share of scenarios per bin) with a marker such as
  break-even.

Texts come from the gettext catalogue and numbers from :mod:`web.formatting`, in the reader's locale (or
the ``lang`` given, for fact sheets).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
from flask_babel import force_locale, pgettext
from flask_babel import gettext as _
from markupsafe import Markup

from registry.payoff import PayoffSweep, is_share, payoff_sweep, thresholds
from registry.schema import ContractDocument, OutcomeMetric
from web import svg
from web.formatting import figure, percent_pattern, shorten

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 52
INVESTOR_COLOUR = "#1f5f99"
PAYER_COLOUR = "#c0392b"
CAPITAL_COLOUR = "#7f8c8d"
THRESHOLD_COLOUR = "#bbbbbb"
NOTE_COLOUR = "#8a4b00"
NOTE_LINE = 15  # height of each note line below the chart
NOTE_CHARACTERS = 96  # a note line's length at font size 10 across the plot's width
INVESTOR_WIDTH = 4.5
PAYER_DASH = "7 4"
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
LANGUAGES = ("sv", "en")

HISTOGRAM_COLOUR = "#2b6c8f"
MARKER_COLOUR = "#b3261e"


def payoff_chart_svg(doc: ContractDocument, lang: str) -> str | None:
    """An inline SVG payoff chart for the contract in ``lang`` (``sv``/``en``), or ``None`` without terms."""
    sweep = payoff_sweep(doc)
    if sweep is None:
        return None
    return render_sweep_svg(sweep, doc, lang)


def render_sweep_svg(sweep: PayoffSweep, doc: ContractDocument, lang: str) -> str:
    """The SVG for a computed sweep, in ``lang`` (English for a language the app does not speak)."""
    lang = lang if lang in LANGUAGES else "en"
    metrics = {m.id: m for m in doc.outcome_metrics}
    with force_locale(lang):
        return _payoff_svg(sweep, doc.finance.currency, lang, metrics)


def _scale_for(max_abs: float) -> tuple[float, str]:
    """The unit large amounts are shown in on an axis (millions, thousands or ones) and its abbreviation."""
    if max_abs >= 1e6:
        return 1e6, pgettext("abbreviation of million on a chart axis", "m")
    if max_abs >= 1e4:
        return 1e3, pgettext("abbreviation of thousand on a chart axis", "k")
    return 1.0, ""


def _coincide(sweep: PayoffSweep) -> bool:
    """Whether investor repayment and payer cost are the same amount at every point (one line hides the other)."""
    return bool(np.allclose(sweep.investor, sweep.payer, rtol=1e-6, atol=0.5))


def _notes(sweep: PayoffSweep, metrics: dict[str, OutcomeMetric], lang: str) -> list[tuple[str, bool]]:
    """What a reader must know to read the chart, as lines that fit it, each flagged when it is a warning: an
    unknown price, payments that are always zero, lines that coincide, and the values the other outcomes are
    held at."""
    notes: list[tuple[str, bool]] = []
    if sweep.derived:
        notes.append((_("Price unknown: no source gives %(names)s; the amounts use a value worked back from the "
                       "reported result.", names=", ".join(sweep.derived)), True))
    if not (np.any(sweep.investor) or np.any(sweep.payer)):
        notes.append((_("The recorded terms pay nothing at any value of this outcome."), True))
    if not sweep.binary and np.any(sweep.investor) and _coincide(sweep):
        notes.append((_("The outcome payer pays what the investor receives: the two lines coincide."), False))
    if sweep.reference:
        held = "; ".join(f"{shorten(metrics[key].name.get(lang) if key in metrics else key, 40)} = "
                         f"{_reference_text(value, metrics.get(key))}" for key, value in sweep.reference.items())
        notes.append((_("Other outcomes held at: %(values)s", values=held), False))
    return [(line, warning) for note, warning in notes for line in textwrap.wrap(note, NOTE_CHARACTERS)]


def _reference_text(value: float | bool, metric: OutcomeMetric | None) -> str:
    if isinstance(value, bool):
        return _("achieved") if value else _("not achieved")
    if metric is not None and is_share(metric, metric.kind):
        return percent_pattern(value, "#,##0.##")
    return figure(value)


def _payoff_svg(sweep: PayoffSweep, currency: str, lang: str, metrics: dict[str, OutcomeMetric]) -> str:
    notes = _notes(sweep, metrics, lang)
    height = HEIGHT + NOTE_LINE * len(notes)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max_data = max(float(np.max(sweep.investor)), float(np.max(sweep.payer)), sweep.capital, 1.0)
    y_min_data = min(float(np.min(sweep.investor)), float(np.min(sweep.payer)), 0.0)
    y_div, y_suffix = _scale_for(max(abs(y_max_data), abs(y_min_data)))
    y_ticks = svg.nice_ticks(y_min_data / y_div, y_max_data * 1.05 / y_div)
    sy = svg.Scale(y_ticks[0] * y_div, y_ticks[-1] * y_div, TOP + plot_h, TOP)

    # An axis label has room for a line; a longer name (the schema allows long texts) would run off the chart.
    metric_name = shorten(sweep.metric.name.get(lang), 90)
    unit = shorten(sweep.metric.unit, 30) if sweep.metric.unit else sweep.metric.unit
    parts = svg.y_axis(y_ticks, lambda tick: sy(tick * y_div), left=LEFT, right=WIDTH - RIGHT, label_of=figure)
    amount = _("Amount")
    y_label = f"{amount} ({y_suffix + ' ' if y_suffix else ''}{currency})"
    parts.append(svg.text(14, TOP + plot_h / 2, y_label, anchor="middle", size=10, fill=svg.LABEL_COLOUR,
                          rotate=-90))
    parts += _payoff_bars(sweep, sy, plot_w, plot_h) if sweep.binary else _payoff_lines(sweep, sy, plot_w, plot_h)

    if sweep.capital > 0:
        y = sy(sweep.capital)
        parts.append(svg.rule(LEFT, y, WIDTH - RIGHT, y, stroke=CAPITAL_COLOUR, width=1, dash="2 3"))
        parts.append(svg.text(WIDTH - RIGHT - 2, y - 4, _("Capital invested"), anchor="end", size=9,
                              fill=CAPITAL_COLOUR))
    parts.append(svg.rule(LEFT, TOP, LEFT, TOP + plot_h, width=1))
    y0 = sy(max(0.0, sy.lo))
    parts.append(svg.rule(LEFT, y0, WIDTH - RIGHT, y0, width=1))
    parts += _legend(sweep)
    x_label = metric_name + (f" ({unit})" if unit and not sweep.binary else "")
    parts.append(svg.text(LEFT + plot_w / 2, HEIGHT - 8, x_label, anchor="middle", size=11, weight="bold"))
    for i, (note, warning) in enumerate(notes):
        parts.append(svg.text(LEFT, HEIGHT + NOTE_LINE * i + 8, note, size=10,
                              fill=NOTE_COLOUR if warning else svg.LABEL_COLOUR, weight="bold" if warning else None))
    title = _("Payments by outcome")
    return svg.frame(WIDTH, height, parts, css_class="payoff-chart", label=f"{title}: {metric_name}",
                     background="#ffffff", font_family=FONT)


def _legend(sweep: PayoffSweep) -> list[str]:
    """One sample of each line and its name, side by side."""
    parts: list[str] = []
    lx = LEFT
    for colour, label, dash, dots in ((INVESTOR_COLOUR, pgettext("payoff chart legend", "Investor repayment"),
                                       None, False),
                                      (PAYER_COLOUR, _("Outcome payer cost"), PAYER_DASH, True)):
        parts.append(svg.rule(lx, 16, lx + 22, 16, stroke=colour, width=INVESTOR_WIDTH if not dots else 2,
                              dash=dash))
        if dots and not sweep.binary:
            parts.append(svg.dots([lx + 11], [16], radius=3, stroke=colour))
        parts.append(svg.text(lx + 27, 20, label, size=11))
        lx += 40 + int(len(label) * 6.3)
    return parts


def _payoff_lines(sweep: PayoffSweep, sy: svg.Scale, plot_w: float, plot_h: float) -> list[str]:
    x_lo, x_hi = float(sweep.x[0]), float(sweep.x[-1])
    x_div, x_suffix = (1.0, "") if sweep.share else _scale_for(max(abs(x_lo), abs(x_hi)))
    ticks = [t for t in svg.nice_ticks(x_lo / x_div, x_hi / x_div) if x_lo / x_div - 1e-9 <= t <= x_hi / x_div + 1e-9]
    sx = svg.Scale(x_lo, x_hi, LEFT, LEFT + plot_w)

    def tick_label(tick: float) -> str:
        tick += 0.0  # -0.0 (a rounded tick at zero) would print as "-0 %"
        if sweep.share:
            return percent_pattern(tick, "#,##0.##")
        return figure(tick) + (f" {x_suffix}" if x_suffix and tick else "")

    out = svg.x_axis(ticks, lambda tick: sx(tick * x_div), baseline=TOP + plot_h, label_of=tick_label)
    for t in thresholds(sweep.metric):
        if x_lo <= t <= x_hi:
            out.append(svg.rule(sx(t), TOP, sx(t), TOP + plot_h, stroke=THRESHOLD_COLOUR, width=1, dash="3 3"))
    if not (np.any(sweep.investor) or np.any(sweep.payer)):
        # Nothing is paid anywhere: a line along zero would read as a price of zero, so the chart says so instead.
        out.append(svg.text(LEFT + plot_w / 2, TOP + plot_h / 2, _("No payment at any value of this outcome"),
                            anchor="middle", size=12, fill=svg.LABEL_COLOUR))
        return out
    xs = sx.many(sweep.x)
    # The investor line is wide and solid; the payer's is drawn on top, dashed and marked with open circles, so
    # that it stays visible where the two coincide.
    out.append(svg.line(xs, sy.many(sweep.investor), stroke=INVESTOR_COLOUR, width=INVESTOR_WIDTH))
    payer_ys = sy.many(sweep.payer)
    out.append(svg.line(xs, payer_ys, stroke=PAYER_COLOUR, width=2, dash=PAYER_DASH))
    every = max(1, len(xs) // 10)
    out.append(svg.dots(xs[every // 2::every], payer_ys[every // 2::every], radius=3, stroke=PAYER_COLOUR))
    return out


def _payoff_bars(sweep: PayoffSweep, sy: svg.Scale, plot_w: float, plot_h: float) -> list[str]:
    out: list[str] = []
    group_w = plot_w / 2
    bar_w = min(70.0, group_w / 3)
    base = sy(0.0)
    for i, label in enumerate((_("Not achieved"), _("Achieved"))):
        centre = LEFT + group_w * (i + 0.5)
        for j, (values, colour) in enumerate(((sweep.investor, INVESTOR_COLOUR), (sweep.payer, PAYER_COLOUR))):
            top = sy(float(values[i]))
            x = centre - bar_w + j * bar_w + (2 if j else -2)
            out.append(svg.bar(x, top, bar_w - 4, base - top, fill=colour))
        out.append(svg.text(centre, TOP + plot_h + 16, label, anchor="middle", size=10, fill=svg.LABEL_COLOUR))
    return out


def histogram_svg(hist: dict[str, Any], *, title: str, edge_label: Callable[[float], str],
                  marker: float | None = None, marker_label: str = "") -> Markup:
    """An inline SVG bar chart of a histogram (share of scenarios per bin), readable without scripts.

    ``hist`` holds ``edges`` (n + 1 bin edges) and ``counts`` (n scenario counts); ``edge_label`` writes an
    edge's value; ``marker`` is a value to mark with a dashed line (drawn when inside the range).
    """
    edges, counts = hist.get("edges") or [], hist.get("counts") or []
    total = sum(counts)
    if not counts or total == 0:
        return Markup("")
    width, height, left, right, top, bottom = 640, 230, 46, 12, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = edges[0], edges[-1]
    peak = max(counts) / total
    bar_w = plot_w / len(counts)
    x_of = svg.Scale(lo, hi, left, left + plot_w)
    share_y = svg.Scale(0.0, peak, top + plot_h, top)

    parts = [svg.rule(left, top + plot_h, width - right, top + plot_h, stroke="#555")]
    parts += svg.y_axis((peak * 0.5, peak), share_y, left=left, right=width - right,
                        label_of=lambda share: percent_pattern(share, "#,##0.#"), size=11, gap=4, grid="#ddd",
                        fill="#444")
    for i, count in enumerate(counts):
        share = count / total
        parts.append(svg.bar(left + i * bar_w + 0.5, top + plot_h, max(bar_w - 1, 0.5), -share / peak * plot_h,
                             fill=HISTOGRAM_COLOUR,
                             tooltip=f"{edge_label(edges[i])} – {edge_label(edges[i + 1])}: "
                                     f"{percent_pattern(share, '#,##0.0')}"))
    ticks = 5
    parts += svg.x_axis([lo + (hi - lo) * k / ticks for k in range(ticks + 1)], x_of, baseline=top + plot_h,
                        label_of=edge_label, size=11, tick_length=0, fill="#444")
    if marker is not None and lo <= marker <= hi:
        parts.append(svg.marker(x_of(marker), top, top + plot_h, marker_label, colour=MARKER_COLOUR))
    parts.append(svg.text(left + plot_w / 2, height - 6, title, anchor="middle", size=11, fill="#444"))
    return Markup(svg.frame(width, height, parts, css_class="histogram", label=title, fluid=True))



BAR_POSITIVE = "#2b6c8f"
BAR_NEGATIVE = "#5b8c3a"


def contribution_bars_svg(items: list[tuple[str, float, str]], *, title: str) -> Markup:
    """Horizontal bars, one per ``(label, value, value as text)``, in the order given, for risk contributions.

    A negative value (a holding that lowers the portfolio's tail loss) is drawn to the left of the zero
    line in another colour; labels are names, shortened to fit, with the whole name as the tooltip.
    """
    if not items:
        return Markup("")
    width, row, label_w, value_w = 640, 24, 250, 110
    plot_w = width - label_w - value_w
    lo = min(0.0, *(v for _label, v, _text in items))
    hi = max(0.0, *(v for _label, v, _text in items))
    span = (hi - lo) or 1.0
    x_of = svg.Scale(lo, lo + span, label_w, label_w + plot_w)
    zero = x_of(0.0)
    height = row * len(items) + 8
    parts = [svg.rule(zero, 2, zero, height - 4, stroke="#555")]
    for i, (name, value, text) in enumerate(items):
        y = 4 + i * row
        end = x_of(value)
        inner = svg.text(label_w - 8, y + row / 2 + 4, shorten(name, 38), anchor="end", size=12)
        inner += svg.bar(min(zero, end), y + 4, max(abs(end - zero), 1.0), row - 8,
                         fill=BAR_NEGATIVE if value < 0 else BAR_POSITIVE, tooltip=f"{name}: {text}")
        inner += svg.text(max(zero, end) + 6, y + row / 2 + 4, text, size=12, fill="#333")
        parts.append(svg.group(inner))
    return Markup(svg.frame(width, height, parts, css_class="bars", label=title, fluid=True, font_family=FONT))
