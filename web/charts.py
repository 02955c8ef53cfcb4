"""Server-rendered payoff charts: inline SVG built as strings, with real text and no JavaScript.

The same SVG goes into the contract page and the PDF fact sheet (WeasyPrint draws SVG as vectors),
so the chart must be self-contained: no external fonts, images, scripts or CSS.

``payoff_chart_svg`` sweeps the contract's *main* payment-relevant outcome over a sensible range and
evaluates the compiled payment terms once, vectorised, over the whole sweep. It plots

* **investor repayment**: everything that reaches investors (``result.investor_repayment``);
* **payer cost**: what the outcome payers pay out (``result.by_payer`` over organisations with the
  ``outcome_payer`` role; when none of them appears there, the sum of the payment rules' flows);
* a reference line at the investor capital at risk.

The main outcome is the first payment-relevant non-binary metric the terms read (document order),
else the first binary one (then the chart is a pair of bar groups, "not achieved" / "achieved").
Every other outcome the terms read is held at a **reference value**: binary outcomes at ``true``
(achieved); numeric outcomes at their first target, else their baseline, else 0.

The sweep range: from ``min(0, thresholds)`` to a little beyond the last point where either curve
still changes (found on a wide probe sweep), and at least past every stated threshold.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

from registry.schema import ContractDocument, OutcomeMetric, Role

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 52
SWEEP_POINTS = 201
PROBE_POINTS = 2001
INVESTOR_COLOUR = "#1f5f99"
PAYER_COLOUR = "#c0392b"
CAPITAL_COLOUR = "#7f8c8d"
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"

LABELS = {
    "sv": {
        "investor": "Återbetalning till investerare",
        "payer": "Kostnad för utfallsansvarig",
        "capital": "Investerat kapital",
        "amount": "Belopp",
        "title": "Utbetalning efter utfall",
        "not_achieved": "Ej uppnått",
        "achieved": "Uppnått",
        "others": "Övriga utfall hålls vid referensvärde (binära: uppnådda; övriga: första målvärdet).",
        "million": "mn",
        "thousand": "tn",
    },
    "en": {
        "investor": "Investor repayment",
        "payer": "Outcome payer cost",
        "capital": "Capital invested",
        "amount": "Amount",
        "title": "Payments by outcome",
        "not_achieved": "Not achieved",
        "achieved": "Achieved",
        "others": "Other outcomes held at reference (binary: achieved; others: first target).",
        "million": "m",
        "thousand": "k",
    },
}


@dataclass(frozen=True)
class PayoffSweep:
    """The numbers behind a payoff chart (also useful for tests and the web page's data table)."""

    metric: OutcomeMetric
    binary: bool
    x: np.ndarray
    investor: np.ndarray
    payer: np.ndarray
    capital: float
    reference: dict[str, float | bool]


def _metric(doc: ContractDocument, metric_id: str) -> OutcomeMetric | None:
    return next((m for m in doc.outcome_metrics if m.id == metric_id), None)


def _is_binary(kind: object) -> bool:
    return str(getattr(kind, "value", kind)) == "binary"


def _thresholds(metric: OutcomeMetric | None) -> list[float]:
    if metric is None:
        return []
    values = [float(t.value) for t in metric.targets]
    if metric.baseline is not None:
        values.append(float(metric.baseline.value))
    return values


def reference_value(metric: OutcomeMetric | None, kind: object) -> float | bool:
    """The value an outcome is held at while another is swept (see the module docstring)."""
    if _is_binary(kind):
        return True
    if metric is not None and metric.targets:
        return float(metric.targets[0].value)
    if metric is not None and metric.baseline is not None:
        return float(metric.baseline.value)
    return 0.0


def choose_main_outcome(doc: ContractDocument, outcome_names: Sequence[str], kinds: dict[str, object]) -> str | None:
    """The outcome to sweep: first payment-relevant non-binary metric the terms read, else the first binary."""
    order = {m.id: i for i, m in enumerate(doc.outcome_metrics)}
    names = sorted(outcome_names, key=lambda n: order.get(n, len(order)))
    relevant = [n for n in names if (_metric(doc, n) is None or _metric(doc, n).payment_relevant)] or names
    numeric = [n for n in relevant if not _is_binary(kinds.get(n))]
    if numeric:
        return numeric[0]
    return relevant[0] if relevant else None


def _payer_cost(doc: ContractDocument, result: object, n: int) -> np.ndarray:
    by_payer = getattr(result, "by_payer", {}) or {}
    payers = [o.id for o in doc.parties_with_role(Role.OUTCOME_PAYER) if o.id in by_payer]
    if payers:
        return sum((np.broadcast_to(np.asarray(by_payer[p], dtype=float), (n,)) for p in payers), np.zeros(n))
    rule_ids = {p.id for p in doc.payment_terms.payments} if doc.payment_terms else set()
    total = np.zeros(n)
    for flow in getattr(result, "flows", []):
        if (getattr(flow, "rule", None) or flow.id) in rule_ids:  # per-period flows are rule[label]
            total = total + np.broadcast_to(np.asarray(flow.amount, dtype=float), (n,))
    return total


def _evaluate(compiled: object, doc: ContractDocument, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n = len(next(iter(inputs.values())))
    result = compiled.evaluate(inputs)  # type: ignore[attr-defined]
    investor = np.broadcast_to(np.asarray(result.investor_repayment, dtype=float), (n,)).copy()
    return investor, _payer_cost(doc, result, n)


def payoff_sweep(doc: ContractDocument) -> PayoffSweep | None:
    """Sweep the main outcome through the compiled terms; ``None`` when there are no executable terms."""
    if doc.payment_terms is None or not doc.payment_terms.payments:
        return None
    from registry.terms import TermsError, compile_terms

    try:
        compiled = compile_terms(doc, source=doc.id)
    except TermsError as exc:
        log.info("no payoff chart for %s: %s", doc.id, exc)
        return None
    names = tuple(compiled.outcome_names)
    kinds = dict(compiled.outcome_kinds)
    capital = float(compiled.investor_capital or 0.0)
    main = choose_main_outcome(doc, names, kinds)

    reference: dict[str, float | bool] = {n: reference_value(_metric(doc, n), kinds.get(n)) for n in names}

    def inputs_for(x: np.ndarray) -> dict[str, np.ndarray]:
        inputs: dict[str, np.ndarray] = {}
        for name in names:
            if name == main:
                inputs[name] = x
            elif isinstance(reference[name], bool):
                inputs[name] = np.full(len(x), reference[name], dtype=bool)
            else:
                inputs[name] = np.full(len(x), float(reference[name]), dtype=float)
        return inputs

    if main is None:
        # Terms that read no outcome at all (a fixed fee): one flat line over a nominal range.
        x = np.linspace(0.0, 1.0, 2)
        result = compiled.evaluate({})
        inv = np.broadcast_to(np.asarray(result.investor_repayment, dtype=float), (2,)).copy()
        pay = _payer_cost(doc, result, 2)
        return None if not (inv.any() or pay.any()) else PayoffSweep(
            metric=OutcomeMetric(id="none", name={"en": "-"}, kind="continuous"),
            binary=True, x=x, investor=inv, payer=pay, capital=capital, reference=reference)

    metric = _metric(doc, main) or OutcomeMetric(id=main, name={"en": main}, kind="continuous")
    reference.pop(main, None)
    if _is_binary(kinds.get(main)):
        x = np.array([False, True])
        inv, pay = _evaluate(compiled, doc, inputs_for(x))
        return PayoffSweep(metric, True, x.astype(float), inv, pay, capital, reference)

    lo, hi = _sweep_range(compiled, doc, metric, kinds.get(main), capital, inputs_for)
    x = np.linspace(lo, hi, SWEEP_POINTS)
    inv, pay = _evaluate(compiled, doc, inputs_for(x))
    return PayoffSweep(metric, False, x, inv, pay, capital, reference)


def _sweep_range(compiled, doc, metric, kind, capital, inputs_for) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    thresholds = _thresholds(metric)
    lo = min([0.0, *thresholds])
    # A rate with thresholds in [0, 1] is a share: probe all of [0, 1] and never go past 1.
    share = str(getattr(kind, "value", kind)) == "rate" and all(0 <= t <= 1 for t in thresholds)
    if share:
        probe_hi = 1.0
    else:
        scales = [abs(t) for t in thresholds if t]
        if doc.payment_terms:
            scales += [abs(float(p.value)) for p in doc.payment_terms.parameters.values() if p.value]
        if str(getattr(kind, "value", kind)) == "count" and doc.target_population:
            scales += [float(doc.target_population.targeted_participants or 0)]
        scales += [capital] if capital else []
        if doc.finance.max_outcome_payment:
            scales.append(float(doc.finance.max_outcome_payment.amount))
        scale = max(scales) if scales else 1.0
        probe_hi = lo + 4 * (scale - lo) if scale > lo else lo + 1.0
    probe = np.linspace(lo, probe_hi, PROBE_POINTS)
    inv, pay = _evaluate(compiled, doc, inputs_for(probe))
    tol = 1e-9 * max(1.0, float(np.max(np.abs(inv))), float(np.max(np.abs(pay))))
    changing = (np.abs(inv - inv[-1]) > tol) | (np.abs(pay - pay[-1]) > tol)
    last = float(probe[min(np.nonzero(changing)[0][-1] + 1, len(probe) - 1)]) if changing.any() else probe_hi
    hi = max(last + 0.25 * (last - lo), max(thresholds, default=lo) * 1.1)
    if share:
        hi = min(hi, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return lo, float(hi)


# --- number formatting ----------------------------------------------------------------------------


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


def _scale_for(max_abs: float, lang: str) -> tuple[float, str]:
    labels = LABELS[lang]
    if max_abs >= 1e6:
        return 1e6, labels["million"]
    if max_abs >= 1e4:
        return 1e3, labels["thousand"]
    return 1.0, ""


def _fmt(value: float, lang: str) -> str:
    if value == 0:
        return "0"
    decimals = 0 if abs(value) >= 100 or float(value).is_integer() else (1 if abs(value) >= 10 else 2)
    text = f"{value:,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    if lang == "sv":
        # Swedish: space as thousands separator (narrow no-break space), comma as decimal mark.
        text = text.replace(",", "\u202f").replace(".", ",")
    return text.replace("-", "\u2212")


# --- SVG ------------------------------------------------------------------------------------------


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 11, weight: str = "normal",
          fill: str = "#222", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" fill="{fill}" '
            f'text-anchor="{anchor}"{extra}>{escape(content)}</text>')


def payoff_chart_svg(doc: ContractDocument, lang: str) -> str | None:
    """An inline SVG payoff chart for the contract in ``lang`` (``sv``/``en``), or ``None`` without terms."""
    lang = lang if lang in LABELS else "en"
    sweep = payoff_sweep(doc)
    if sweep is None:
        return None
    return render_sweep_svg(sweep, doc, lang)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def render_sweep_svg(sweep: PayoffSweep, doc: ContractDocument, lang: str) -> str:
    """The SVG for a computed sweep."""
    labels = LABELS[lang]
    currency = doc.finance.currency
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max_data = max(float(np.max(sweep.investor)), float(np.max(sweep.payer)), sweep.capital, 1.0)
    y_min_data = min(float(np.min(sweep.investor)), float(np.min(sweep.payer)), 0.0)
    y_div, y_suffix = _scale_for(max(abs(y_max_data), abs(y_min_data)), lang)
    y_ticks = nice_ticks(y_min_data / y_div, y_max_data * 1.05 / y_div)
    y_lo, y_hi = y_ticks[0] * y_div, y_ticks[-1] * y_div

    def sy(v: float | np.ndarray) -> float | np.ndarray:
        return TOP + plot_h - (np.asarray(v) - y_lo) / (y_hi - y_lo) * plot_h

    # An axis label has room for a line; a longer name (the schema allows long texts) would run off the chart.
    metric_name = shorten(sweep.metric.name.get(lang), 90)
    unit = shorten(sweep.metric.unit, 30) if sweep.metric.unit else sweep.metric.unit
    desc = f"{labels['title']}: {metric_name}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="payoff-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(desc)}" font-family="{FONT}">',
        f"<title>{escape(desc)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    # Y grid and ticks.
    for tick in y_ticks:
        y = float(sy(tick * y_div))
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e3e3e3" '
                     'stroke-width="1"/>')
        parts.append(_text(LEFT - 6, y + 4, _fmt(tick, lang), anchor="end", size=10, fill="#555"))
    y_label = f"{labels['amount']} ({y_suffix + ' ' if y_suffix else ''}{currency})"
    parts.append(_text(14, TOP + plot_h / 2, y_label, anchor="middle", size=10, fill="#555",
                       extra=f' transform="rotate(-90 14 {TOP + plot_h / 2:.1f})"'))

    if sweep.binary:
        parts += _bars(sweep, labels, sy, plot_w, plot_h)
    else:
        parts += _lines(sweep, lang, sy, plot_w, plot_h)

    # Capital reference line.
    if sweep.capital > 0:
        y = float(sy(sweep.capital))
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{CAPITAL_COLOUR}" '
                     'stroke-width="1" stroke-dasharray="2 3"/>')
        parts.append(_text(WIDTH - RIGHT - 2, y - 4, labels["capital"], anchor="end", size=9, fill=CAPITAL_COLOUR))
    # Axes.
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#444" stroke-width="1"/>')
    y0 = float(sy(max(0.0, y_lo)))
    parts.append(f'<line x1="{LEFT}" y1="{y0:.1f}" x2="{WIDTH - RIGHT}" y2="{y0:.1f}" stroke="#444" '
                 'stroke-width="1"/>')
    # Legend.
    lx = LEFT
    for colour, label, dash in ((INVESTOR_COLOUR, labels["investor"], ""),
                                (PAYER_COLOUR, labels["payer"], ' stroke-dasharray="6 3"')):
        parts.append(f'<line x1="{lx}" y1="16" x2="{lx + 22}" y2="16" stroke="{colour}" stroke-width="3"{dash}/>')
        parts.append(_text(lx + 27, 20, label, size=11))
        lx += 40 + int(len(label) * 6.3)
    # X axis label.
    x_label = metric_name + (f" ({unit})" if unit and not sweep.binary else "")
    parts.append(_text(LEFT + plot_w / 2, HEIGHT - 8, x_label, anchor="middle", size=11, weight="bold"))
    parts.append("</svg>")
    return "".join(parts)


def _lines(sweep: PayoffSweep, lang: str, sy, plot_w: float, plot_h: float) -> list[str]:  # type: ignore[no-untyped-def]
    x_lo, x_hi = float(sweep.x[0]), float(sweep.x[-1])
    x_div, x_suffix = _scale_for(max(abs(x_lo), abs(x_hi)), lang)
    is_share = x_hi <= 1.0 and x_lo >= 0.0 and str(sweep.metric.kind) == "rate"
    ticks = [t for t in nice_ticks(x_lo / x_div, x_hi / x_div) if x_lo / x_div - 1e-9 <= t <= x_hi / x_div + 1e-9]

    def sx(v: float | np.ndarray) -> float | np.ndarray:
        return LEFT + (np.asarray(v) - x_lo) / (x_hi - x_lo) * plot_w

    out: list[str] = []
    for tick in ticks:
        x = float(sx(tick * x_div))
        suffix = f" {x_suffix}" if x_suffix and tick else ""
        label = f"{_fmt(tick * 100, lang)} %" if is_share else _fmt(tick, lang) + suffix
        out.append(f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 4}" stroke="#444"/>')
        out.append(_text(x, TOP + plot_h + 16, label, anchor="middle", size=10, fill="#555"))
    for t in _thresholds(sweep.metric):
        if x_lo <= t <= x_hi:
            x = float(sx(t))
            out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#bbbbbb" '
                       'stroke-width="1" stroke-dasharray="3 3"/>')
    xs = sx(sweep.x)
    # The payer line is drawn dashed and thinner on top, so that both stay visible where they coincide.
    for values, colour, style in ((sweep.investor, INVESTOR_COLOUR, 'stroke-width="3.5"'),
                                  (sweep.payer, PAYER_COLOUR, 'stroke-width="2" stroke-dasharray="6 3"')):
        points = " ".join(f"{float(a):.1f},{float(b):.1f}" for a, b in zip(xs, sy(values), strict=True))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" {style} stroke-linejoin="round"/>')
    return out


def _bars(sweep: PayoffSweep, labels: dict[str, str], sy, plot_w: float, plot_h: float) -> list[str]:  # type: ignore[no-untyped-def]
    out: list[str] = []
    group_w = plot_w / 2
    bar_w = min(70.0, group_w / 3)
    base = float(sy(0.0))
    for i, label in enumerate((labels["not_achieved"], labels["achieved"])):
        centre = LEFT + group_w * (i + 0.5)
        for j, (values, colour) in enumerate(((sweep.investor, INVESTOR_COLOUR), (sweep.payer, PAYER_COLOUR))):
            top = float(sy(float(values[i])))
            x = centre - bar_w + j * bar_w + (2 if j else -2)
            y, h = min(top, base), abs(base - top)
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" fill="{colour}"/>')
        out.append(_text(centre, TOP + plot_h + 16, label, anchor="middle", size=10, fill="#555"))
    return out
