"""The portfolio builder's form: fields read from a request (numbers as people type them in either language) or
from a stored specification, merged into the specification, and its problems put next to the fields at fault."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlmodel import Session

from registry.calibration import CalibratedPriors
from registry.plain_text import number_text
from registry.portfolio_file import PortfolioFile, contract_model
from registry.reference_rates import reference_fx_for
from registry.schema import ContractDocument
from registry.services.contracts import get_contract, reader_name
from registry.services.holdings import describe_holdings, plain_reason
from registry.terms import TermsError, compile_terms
from web.builder_models import MetricView, builder_model, model_views
from web.formatting import percent
from web.problems import localise
from web.simulations import SpecProblem, resolve_or_error, spec_json

SCENARIO_CHOICES = (10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
BASE_CURRENCIES = ("SEK", "EUR", "USD", "GBP", "NOK", "DKK")
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
    notices: list[str] = field(default_factory=list)  # contracts asked for that could not be added, and why
    # (row, contract, metric, probability typed in percent or None for "back to the default")
    model_edits: list[tuple[int, str, str, float | None]] = field(default_factory=list)

    @property
    def row_errors(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, message in self.errors:
            if key.startswith("h-"):
                out.setdefault(int(key.split("-")[1]), []).append(message)
        return out

    def field_errors(self, key: str) -> list[str]:
        return [m for k, m in self.errors if k == key]


def form_from_spec(name: str, spec: dict[str, Any]) -> BuilderForm:
    """The form showing a stored specification."""
    rows = [{"contract": h.get("contract", ""), "amount": number_text(h.get("amount")),
             "share": number_text(h["share"] * 100) if h.get("share") is not None else ""}
            for h in spec.get("holdings", [])]
    return BuilderForm(name=name, spec=spec, rows=rows, errors=[])


_ROW_FIELD = re.compile(r"h-([0-9]{1,6})-", re.ASCII)


@dataclass
class _PostedFields:
    """The posted form, read field by field; every field that is not a number is noted in ``errors``."""

    form: Any
    errors: list[tuple[str, str]]

    def number(self, key: str, scale: float = 1.0, integer: bool = False, shown_as: str | None = None,
               ) -> float | None:
        """The number typed in field ``key``; a problem is noted under ``shown_as`` (the field as the page
        shows it again), else under ``key``."""
        try:
            value = parse_number(self.form.get(key))
        except ValueError:
            self.errors.append((shown_as or key, _("Not a number: %(text)s", text=self.form.get(key))))
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
        if not (row["contract"] or row["amount"].strip() or row["share"].strip()):
            continue  # an empty row: nothing to keep
        row["at"] = i  # the row's number in the posted form (its outcome-model fields carry it)
        rows.append(row)
        n = len(rows) - 1  # the row as the page shows it again (empty rows left out)
        if not row["contract"]:
            errors.append((f"h-{n}", _("Choose a contract for this amount.")))
            continue
        holding = {k: v for k, v in previous.get(row["contract"], {}).items() if k not in HOLDING_FORM_KEYS}
        holding["contract"] = row["contract"]
        amount = fields.number(f"h-{i}-amount", shown_as=f"h-{n}-amount")
        share = fields.number(f"h-{i}-share", 0.01, shown_as=f"h-{n}-share")
        if amount is not None:
            holding["amount"] = amount
        if share is not None:
            holding["share"] = share
        if amount is None and share is None:
            if not any(k.startswith(f"h-{n}-") for k, _m in errors):
                errors.append((f"h-{n}", _("Give an amount or a share of the investor position.")))
            continue
        holdings.append(holding)
        row_of.append(n)
    return rows, holdings, row_of


def _read_models(fields: _PostedFields, edits: list[tuple[int, str, str, float | None]], rows: list[dict[str, Any]],
                 ) -> None:
    """The outcome probabilities changed on the form (each field beside the value it was shown with)."""
    form = fields.form
    for n, row in enumerate(rows):
        prefix = f"h-{row['at']}-m-"
        for key in form:
            if not key.startswith(prefix) or key.endswith("-was") or not row["contract"]:
                continue
            typed = (form.get(key) or "").strip()
            if typed == (form.get(key + "-was") or "").strip():
                continue  # untouched: the model stays as it is
            metric = key[len(prefix):]
            value = fields.number(key, shown_as=f"h-{n}-m-{metric}")
            if value is not None or not typed:
                edits.append((n, rows[n]["contract"], metric, value))


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
    edits: list[tuple[int, str, str, float | None]] = []
    _read_models(fields, edits, rows)
    spec["holdings"] = holdings
    held = {h["contract"] for h in holdings}
    # Assumptions about contracts no longer held would make the file invalid; they go with the holding.
    spec["outcome_models"] = {c: m for c, m in (spec.get("outcome_models") or {}).items() if c in held}
    spec["delays"] = {c: d for c, d in (spec.get("delays") or {}).items() if c in held}
    if not holdings and not any(k.startswith("h-") for k, _m in fields.errors):
        fields.errors.append(("h-0", _("Add at least one contract.")))
    return BuilderForm(name=name, spec=spec, rows=rows, errors=fields.errors, row_of=row_of, model_edits=edits)


def _problem_errors(problem_errors: list[tuple[str, str]], row_of: list[int]) -> list[tuple[str, str]]:
    """Specification field paths (``holdings[2].amount``) to the form's fields (``h-3-amount``, or ``h-3`` for
    the row), each reason in the reader's language."""
    out = []
    for loc, english in problem_errors:
        reason = localise(english)  # pydantic and the file checks speak English (web.problems)
        if loc.startswith("holdings[") and "]" in loc:
            k = int(loc[len("holdings["):loc.index("]")])
            rest = loc[loc.index("]") + 1:]
            key = f"h-{row_of[k]}" if k < len(row_of) else ""
            if rest in ("", ".contract"):  # the contract cannot be held: say why, not which file field to add
                reason = localise(plain_reason(english))
            if key and rest in (".amount", ".share"):
                key += "-" + rest[1:]
            if rest == ".share" and english.startswith("Input should be less than or equal to 1"):
                reason = _("A share is at most %(limit)s.", limit=percent(1))  # the form takes shares in %
            out.append((key, reason))
        elif loc.startswith("fx"):
            out.append(("fx", reason))
        elif loc.split(".")[0] in ("scenarios", "seed", "metric_correlation", "hurdle_rate", "loadings", "copula"):
            out.append((loc.split(".")[0], reason))
        else:
            out.append(("", f"{loc}: {reason}" if loc else reason))
    return out


def _passed_parts(data: dict[str, Any], errors: list[tuple[str, str]]) -> tuple[PortfolioFile | None, list[int]]:
    """The specification without the parts that failed its schema (settings back to their defaults, failed
    holdings left out), so that the registry's checks can still report on the rest; and the original index of
    each holding kept."""
    data = dict(data)
    dropped: set[int] = set()
    for loc, _reason in errors:
        if loc.startswith("holdings[") and "]" in loc:
            dropped.add(int(loc[len("holdings["):loc.index("]")]))
        else:
            data.pop(loc.split(".")[0].split("[")[0], None)
    kept = [k for k in range(len(data.get("holdings") or [])) if k not in dropped]
    data["holdings"] = [data["holdings"][k] for k in kept]
    if not kept:
        return None, []
    try:
        return PortfolioFile.model_validate(data), kept
    except ValidationError:
        return None, []


def validate_form(form: BuilderForm, *, session: Session) -> PortfolioFile | None:
    """Check the merged specification against the file schema and the registry; every problem found (the
    fields that are not numbers, the schema's and the registry's) goes on ``form`` at once."""
    holding_rows = any(key.startswith("h-") for key, _m in form.errors)
    try:
        spec = PortfolioFile.model_validate(form.spec)
        kept = list(range(len(spec.holdings)))
    except ValidationError as exc:
        # "at least one holding" says nothing new when the rows themselves were at fault
        schema = [(_loc(e["loc"]), e["msg"]) for e in exc.errors() if not (holding_rows and e["loc"] == ("holdings",))]
        form.errors.extend(_problem_errors(schema, form.row_of))
        spec, kept = _passed_parts(form.spec, schema)
    if spec is not None:
        problem = resolve_or_error(spec, session=session)
        if isinstance(problem, SpecProblem):
            found = list(problem.errors) or [(problem.field or "", problem.message)]
            form.errors.extend(_problem_errors(found, [form.row_of[k] for k in kept]))
            return None
    return spec if not form.errors else None


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, str) and p in {"normal", "lognormal", "beta", "bernoulli", "empirical", "mixture"}:
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def edit_rows(form: BuilderForm, *, add: Sequence[str], remove: str | None, session: Session) -> None:
    """Remove the row whose remove button was pressed and add the contracts asked for (from the search or
    ``?add=``), each once; a contract that cannot be simulated is not added but noted with the reason."""
    if remove is not None and re.fullmatch(r"[0-9]{1,6}", remove) and int(remove) < len(form.rows):
        del form.rows[int(remove)]
    held = {row["contract"] for row in form.rows}
    wanted = [cid for cid in dict.fromkeys(c.strip() for c in add) if cid and cid not in held]
    described = describe_holdings(session=session, contract_ids=wanted)
    lang = str(get_locale() or "sv")
    for cid in wanted:
        found = described.get(cid)
        if found is None:
            form.notices.append(_("There is no contract %(id)s in the registry.", id=cid))
        elif found.problem:
            form.notices.append(_("%(name)s cannot be simulated: %(reason)s", name=reader_name(found, lang),
                                  reason=localise(found.problem)))
        else:
            form.rows.append({"contract": cid, "amount": "", "share": ""})


def holding_views(form: BuilderForm, *, session: Session) -> list[dict[str, Any]]:
    """The form's rows as the holdings table shows them: as typed, with the contract's name, country, sector,
    currency and, for one that cannot be simulated, the reason."""
    lang = str(get_locale() or "sv")
    inline = {doc["id"]: doc for doc in form.spec.get("contracts") or [] if isinstance(doc, dict) and doc.get("id")}
    described = describe_holdings(session=session, contract_ids=[r["contract"] for r in form.rows if r["contract"]])
    custom = form.spec.get("outcome_models") or {}
    priors: CalibratedPriors | None = None
    views = []
    for row in form.rows:
        found = described.get(row["contract"])
        view = {**row, "name": row["contract"], "country": "", "sector": "", "currency": "", "problem": None,
                "models": []}
        if row["contract"] in inline:  # a what-if contract written into the specification
            doc = inline[row["contract"]]
            view.update(name=_("%(id)s (what-if)", id=row["contract"]),
                        currency=(doc.get("finance") or {}).get("currency", ""))
        elif found is not None:
            view.update(name=reader_name(found, lang), country=found.country or "", sector=found.sector or "",
                        currency=found.currency or "", problem=localise(found.problem) if found.problem else None)
            doc = get_contract(session=session, contract_id=row["contract"]) if not found.problem else None
            if doc is not None:
                priors = priors or CalibratedPriors.from_session(session)
                view["models"] = _models_of(doc, custom.get(row["contract"], {}), priors, lang)
        views.append(view)
    return views


def apply_model_edits(form: BuilderForm, *, session: Session) -> None:
    """Write the changed outcome probabilities into the specification's ``outcome_models``: a probability
    becomes a model of the default's shape, an emptied field removes the reader's model (back to the
    default)."""
    models = {cid: dict(m) for cid, m in (form.spec.get("outcome_models") or {}).items()}
    for n, cid, metric, percent_value in form.model_edits:
        if percent_value is None:
            models.get(cid, {}).pop(metric, None)
            continue
        if not 0 < percent_value < 100:
            form.errors.append((f"h-{n}-m-{metric}", _("A probability above 0 and below %(limit)s.", limit=percent(1))))
            continue
        doc = get_contract(session=session, contract_id=cid)
        if doc is not None:
            models.setdefault(cid, {})[metric] = builder_model(doc, metric, percent_value / 100)
    form.spec["outcome_models"] = {cid: m for cid, m in models.items() if m}


def _models_of(doc: ContractDocument, custom: dict[str, Any], priors: CalibratedPriors,
               lang: str) -> list[MetricView]:
    """A holding's outcome models in words (nothing when they do not build: the save reports why)."""
    try:
        model = contract_model(doc, compile_terms(doc), models=PortfolioFile.model_validate(
            {"base_currency": "SEK", "holdings": [{"contract": doc.id, "share": 1}],
             "outcome_models": {doc.id: custom}}).outcome_models.get(doc.id, {}), priors=priors, exclude=doc.id,
            holding_amount=1.0)  # a stand-in for contracts that state no capital: the models do not depend on it
    except (ValueError, TermsError, ValidationError):
        return []
    return model_views(doc, model, custom, priors=priors, lang=lang)


def currencies(holdings: list[dict[str, Any]], spec: dict[str, Any]) -> list[str]:
    """Currencies of the holdings (and rates already stated) that need a rate into the base currency."""
    found = {h["currency"] for h in holdings if h["currency"]} | set(spec.get("fx") or {})
    return sorted(found - {spec.get("base_currency", "SEK")})


def rate_rows(holdings: list[dict[str, Any]], spec: dict[str, Any], *, session: Session) -> list[dict[str, Any]]:
    """One row per currency the holdings need: the reference rate the simulation uses by default (with its
    source and year; ``None`` when the tables have none) and the rate stated in its place, if any."""
    needed = currencies(holdings, spec)
    base = spec.get("base_currency", "SEK")
    quotes = reference_fx_for(needed, base, year=spec.get("fx_year"), session=session)
    stated = spec.get("fx") or {}
    return [{"currency": cur, "quote": quotes.get(cur), "stated": stated.get(cur)} for cur in needed]
