"""The portfolio builder's form: fields read from a request (numbers as people type them in either language) or
from a stored specification, merged into the specification, and its problems put next to the fields at fault."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlmodel import Session

from registry.plain_text import number_text
from registry.portfolio_file import PortfolioFile
from registry.services.contracts import contract_names, reader_name
from web.problems import localise
from web.simulations import SpecProblem, resolve_or_error, spec_json

SCENARIO_CHOICES = (10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
BASE_CURRENCIES = ("SEK", "EUR", "USD", "GBP", "NOK", "DKK")
EXTRA_ROWS = 2  # blank holding rows under the filled ones (more with the "add row" button)
# What the form edits; everything else in a stored specification (outcome models, delays, inline
# contracts, per-holding assumptions) is kept as it was.
HOLDING_FORM_KEYS = ("contract", "amount", "share")
# (form field, specification field, scale, integer) of the numeric settings
NUMERIC_SETTINGS = (("scenarios", "scenarios", 1.0, True), ("seed", "seed", 1.0, True),
                    ("metric_correlation", "metric_correlation", 1.0, False),
                    ("hurdle_rate", "hurdle_rate", 0.01, False))
FACTORS = ("global", "country", "payer", "sector")


def default_spec() -> dict[str, Any]:
    """A new portfolio's settings (the portfolio-file defaults, with a quick scenario count)."""
    spec = PortfolioFile.model_validate({"base_currency": "SEK", "scenarios": 20_000, "seed": 1,
                                         "holdings": [{"contract": "x", "share": 1}]})
    data = spec_json(spec)
    data["holdings"] = []
    return data


def parse_number(text: str | None) -> float | None:
    """Numbers as people type them in either language: ``5 000 000``, ``2,5``, ``1,234.5``."""
    if text is None or not text.strip():
        return None
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("_", "")
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")  # 1,234.5
    else:
        cleaned = cleaned.replace(",", ".")  # 2,5
    value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


@dataclass
class BuilderForm:
    """The builder's fields, read from a request or from a stored specification."""

    name: str
    spec: dict[str, Any]
    rows: list[dict[str, Any]]  # contract, amount, share (percent), as typed
    errors: list[tuple[str, str]]  # (form field or "", message)
    row_of: list[int] = field(default_factory=list)  # the form row of each holding in spec["holdings"]

    @property
    def row_errors(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, message in self.errors:
            if key.startswith("h-"):
                out.setdefault(int(key.split("-")[1]), []).append(message)
        return out

    def field_errors(self, key: str) -> list[str]:
        return [m for k, m in self.errors if k == key]


def _blank_rows() -> list[dict[str, Any]]:
    return [{"contract": "", "amount": "", "share": ""} for _ in range(EXTRA_ROWS)]


def form_from_spec(name: str, spec: dict[str, Any]) -> BuilderForm:
    """The form showing a stored specification."""
    rows = [{"contract": h.get("contract", ""), "amount": number_text(h.get("amount")),
             "share": number_text(h["share"] * 100) if h.get("share") is not None else ""}
            for h in spec.get("holdings", [])]
    return BuilderForm(name=name, spec=spec, rows=rows + _blank_rows(), errors=[])


_ROW_FIELD = re.compile(r"h-([0-9]{1,6})-", re.ASCII)


@dataclass
class _PostedFields:
    """The posted form, read field by field; every field that is not a number is noted in ``errors``."""

    form: Any
    errors: list[tuple[str, str]]

    def number(self, key: str, scale: float = 1.0, integer: bool = False) -> float | None:
        try:
            value = parse_number(self.form.get(key))
        except ValueError:
            self.errors.append((key, _("Not a number: %(text)s", text=self.form.get(key))))
            return None
        if value is None:
            return None
        value = value * scale
        return int(round(value)) if integer else value


def _read_settings(fields: _PostedFields, spec: dict[str, Any]) -> None:
    """Base currency, scenarios, seed, correlation, hurdle rate, copula, factor loadings and exchange rates."""
    form = fields.form
    spec["base_currency"] = (form.get("base_currency") or spec.get("base_currency") or "SEK").upper()
    for key, target, scale, integer in NUMERIC_SETTINGS:
        value = fields.number(key, scale, integer)
        if value is not None:
            spec[target] = value
    copula = dict(spec.get("copula") or {})
    copula["family"] = form.get("copula") or copula.get("family", "gaussian")
    df = fields.number("df")
    if df is not None:
        copula["df"] = df
    spec["copula"] = copula
    loadings = dict(spec.get("loadings") or {})
    for factor in FACTORS:
        value = fields.number(f"loading_{factor}")
        if value is not None:
            loadings[factor] = value
    spec["loadings"] = loadings
    fx = dict(spec.get("fx") or {})
    for key in form:
        if key.startswith("fx_"):
            currency = key[3:].upper()
            value = fields.number(key)
            if value is None:
                fx.pop(currency, None)
            else:
                fx[currency] = value
    spec["fx"] = {c: r for c, r in fx.items() if c != spec["base_currency"]}


def _read_holdings(fields: _PostedFields, existing: dict[str, Any] | None,
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """The holding rows as typed, the holdings they give, and each holding's row. A holding kept from
    ``existing`` keeps what the form does not edit."""
    form, errors = fields.form, fields.errors
    previous = {h.get("contract"): h for h in (existing or {}).get("holdings", [])}
    rows: list[dict[str, Any]] = []
    holdings: list[dict[str, Any]] = []
    row_of: list[int] = []
    # Row numbers are the form's own ASCII digits; "h-²-..." passes str.isdigit but not int(), and a
    # thousand-digit number passes both but exceeds int()'s limit on digits.
    indices = sorted({int(m[1]) for k in form if (m := _ROW_FIELD.match(k))})
    for i in indices:
        row = {"contract": (form.get(f"h-{i}-contract") or "").strip(),
               "amount": form.get(f"h-{i}-amount") or "", "share": form.get(f"h-{i}-share") or ""}
        rows.append(row)
        n = len(rows) - 1
        if not row["contract"]:
            if row["amount"].strip() or row["share"].strip():
                errors.append((f"h-{n}", _("Choose a contract for this amount.")))
            continue
        holding = {k: v for k, v in previous.get(row["contract"], {}).items() if k not in HOLDING_FORM_KEYS}
        holding["contract"] = row["contract"]
        amount = fields.number(f"h-{n}-amount")
        share = fields.number(f"h-{n}-share", 0.01)
        if amount is not None:
            holding["amount"] = amount
        if share is not None:
            holding["share"] = share
        if amount is None and share is None and not any(k.startswith(f"h-{n}-") for k, _m in errors):
            errors.append((f"h-{n}", _("Give an amount or a share of the investor position.")))
            continue
        holdings.append(holding)
        row_of.append(n)
    return rows, holdings, row_of


def form_from_request(form: Any, existing: dict[str, Any] | None) -> BuilderForm:
    """Merge the posted fields into ``existing`` (or the defaults); collect the problems found."""
    spec = dict(existing or default_spec())
    fields = _PostedFields(form, [])
    name = (form.get("name") or "").strip()
    if not name:
        fields.errors.append(("name", _("Give the portfolio a name.")))
    spec["name"] = name
    _read_settings(fields, spec)
    rows, holdings, row_of = _read_holdings(fields, existing)
    spec["holdings"] = holdings
    held = {h["contract"] for h in holdings}
    # Assumptions about contracts no longer held would make the file invalid; they go with the holding.
    spec["outcome_models"] = {c: m for c, m in (spec.get("outcome_models") or {}).items() if c in held}
    spec["delays"] = {c: d for c, d in (spec.get("delays") or {}).items() if c in held}
    if not holdings and not any(k.startswith("h-") for k, _m in fields.errors):
        fields.errors.append(("h-0", _("Add at least one contract.")))
    return BuilderForm(name=name, spec=spec, rows=rows + _blank_rows(), errors=fields.errors, row_of=row_of)


def _problem_errors(problem_errors: list[tuple[str, str]], row_of: list[int]) -> list[tuple[str, str]]:
    """Specification field paths (``holdings[2].amount``) to the form's fields (``h-3``)."""
    out = []
    for loc, english in problem_errors:
        reason = localise(english)  # pydantic and the file checks speak English (web.problems)
        if loc.startswith("holdings[") and "]" in loc:
            k = int(loc[len("holdings["):loc.index("]")])
            key = f"h-{row_of[k]}" if k < len(row_of) else ""
            out.append((key, reason))
        elif loc.startswith("fx"):
            out.append(("fx", reason))
        else:
            out.append(("", f"{loc}: {reason}" if loc else reason))
    return out


def validate_form(form: BuilderForm, *, session: Session) -> PortfolioFile | None:
    """Check the merged specification against the file schema and the registry; errors go on ``form``."""
    if form.errors:
        return None
    try:
        spec = PortfolioFile.model_validate(form.spec)
    except ValidationError as exc:
        form.errors.extend(_problem_errors([(_loc(e["loc"]), e["msg"]) for e in exc.errors()], form.row_of))
        return None
    problem = resolve_or_error(spec, session=session)
    if isinstance(problem, SpecProblem):
        form.errors.extend(_problem_errors(list(problem.errors) or [(problem.field or "", problem.message)],
                                           form.row_of))
        return None
    return spec


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, str) and p in {"normal", "lognormal", "beta", "bernoulli", "empirical", "mixture"}:
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def contract_choices(spec: dict[str, Any], *, session: Session) -> list[dict[str, str]]:
    """Contracts that can be held (their payment terms are recorded), named in the reader's language."""
    lang = str(get_locale() or "sv")
    choices = []
    for row in contract_names(session=session, with_terms=True):
        name = reader_name(row, lang)
        short = name if len(name) <= 90 else name[:88].rstrip() + "…"
        choices.append({"id": row.id, "label": f"{short} ({row.country}, {row.currency})", "currency": row.currency})
    for doc in spec.get("contracts") or []:  # what-if contracts written into the specification
        if isinstance(doc, dict) and doc.get("id"):
            choices.append({"id": doc["id"], "label": _("%(id)s (what-if)", id=doc["id"]),
                            "currency": (doc.get("finance") or {}).get("currency", "")})
    return sorted(choices, key=lambda c: c["label"].lower())


def currencies(choices: list[dict[str, str]], spec: dict[str, Any]) -> list[str]:
    """Currencies that may need an exchange rate into the base currency."""
    found = {c["currency"] for c in choices if c["currency"]} | set(spec.get("fx") or {})
    return sorted(found - {spec.get("base_currency", "SEK")})
