"""Mapping one INDIGO project (its row and child rows) to a :class:`ContractDocument`.

Every fact carries the project's INDIGO record as a source (``indigo-record``, with GO Lab's attribution)
plus the sources the export cites for that group of fields (``indigo-source3`` ...). A cell that cannot be
typed is kept verbatim in the fact's note and listed in the import report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from babel import Locale

from registry.indigo.report import ImportReport
from registry.indigo.values import (
    ATTRIBUTION,
    DATASET_URL,
    PUBLISHER,
    clean,
    parse_currency,
    parse_date,
    parse_number,
    parse_rate,
    parse_sector,
    parse_stage,
    parse_tranche,
    slug_of,
    split_multi,
)
from registry.plain_text import number_text
from registry.schema import (
    IDENT_PATTERN,
    MeasurementMethod,
    OrganisationType,
    PolicySector,
    Role,
    Stage,
    country_codes,
    is_http_url,
)

RECORD_SOURCE = "indigo-record"
IDENT = re.compile(IDENT_PATTERN)
PROJECT_ID = re.compile(r"^INDIGO-POJ-\d{4}$")

# Column headers of the projects table.
NAME = "Impact Bond Name - (Value)"
ALT_NAMES = "Alternative Names - (Value)"
STAGE = "Stage of Development - (Value)"
STAGE_SRC = "Stage of Development - (Source ID's)"
D = "Dates - "
D_SIGNED = D + "Date outcomes contract signed - (Value)"
D_ALL_SIGNED = D + "Date contracts between all parties signed - (Value)"
D_ANT_COMPLETION, D_ACT_COMPLETION = D + "Anticipated completion date - (Value)", D + "Actual completion date - (Value)"
D_START = D + "Start date of service provision - (Value)"
D_ANT_END = D + "Anticipated end date of service provision - (Value)"
D_ACT_END = D + "Actual end date of service provision - (Value)"
D_ANT_DUR = D + "Anticipated duration of service provision - (Value)"
D_ACT_DUR = D + "Actual duration of service provision - (Value)"
JURISDICTION = "Jurisdiction - Jurisdiction - (Value)"
F = "Overall project finance - "
F_CUR = F + "Total investment commitment - Currency - (Value)"
F_AMT = F + "Total investment commitment - Amount - {} - (Value)"
F_USD = F + "Total investment commitment - Amount USD - {} - (Value)"
F_MOP_CUR, F_MOP, F_MOP_USD = (F + "Maximum potential outcome payment - Currency - (Value)",
                               F + "Maximum potential outcome payment - Amount - (Value)",
                               F + "Maximum potential outcome payment - Amount USD - (Value)")
F_LOSS, F_RET_TYPE, F_RET = (F + "Maximum potential loss - (Value)", F + "Maximum potential return type - (Value)",
                             F + "Maximum potential return - (Value)")
F_CONFIG, F_REPAY = F + "Configuration of the Contracting Parties - (Value)", F + "Investor repayment - (Value)"
F_PAID_CUR, F_PAID, F_PAID_USD = (F + "Total outcome payments made - Currency - (Value)",
                                  F + "Total outcome payments made - Amount - (Value)",
                                  F + "Total outcome payments made - Amount USD - (Value)")
IDT = "Investment Details - "
I_IRR_TARGET, I_IRR_LATEST, I_IRR_DATE = (IDT + "Internal Rate of Return - Target - (Value)",
                                          IDT + "Internal Rate of Return - Latest - (Value)",
                                          IDT + "Internal Rate of Return - Date - (Value)")
I_FUNDS_CUR, I_FUNDS, I_FUNDS_USD, I_FUNDS_DATE = (IDT + "Total Funds Invested - Latest - Currency - (Value)",
                                                   IDT + "Total Funds Invested - Latest - Amount - (Value)",
                                                   IDT + "Total Funds Invested - Latest - Amount USD - (Value)",
                                                   IDT + "Total Funds Invested - Latest - Date - (Value)")
PC = "Purpose and classifications - "
PC_CHALLENGE, PC_INTERVENTION, PC_SECTOR = (PC + "Social challenge - (Value)", PC + "Intervention - (Value)",
                                            PC + "Policy sector - (Value)")
SB = "Service and beneficiaries - "
SB_POP = SB + "Target population - (Value)"
SB_TARGET = SB + "Targeted number of unique service users or beneficiaries (total) - (Value)"
SB_TARGET_UNIT = SB + "Unit description of targeted service user or beneficiaries - (Value)"
SB_TARGET_TYPE = SB + "Unit type of targeted service users or beneficiaries - (Value)"
SB_ACTUAL = SB + "Actual number of unique service users or beneficiaries engaged (total) - (Value)"

ORG_VALUE = "Organisation ID - (Value)"
ROLE_CATEGORY = "Organisation Role Category - (Value)"

ORG_TYPES = {
    "government body": OrganisationType.PUBLIC_BODY,
    "registered company, partnership or commercial association": OrganisationType.PRIVATE_COMPANY,
    "registered non-profit organisation, charity or foundation": OrganisationType.NON_PROFIT,
    "multilateral, bilateral or intergovernmental body": OrganisationType.PUBLIC_BODY,
    "individual": OrganisationType.INDIVIDUAL,
    "arrangement": OrganisationType.OTHER,
    "crowdfunding": OrganisationType.OTHER,
    "collective": OrganisationType.OTHER,
    "unregistered organisation": OrganisationType.OTHER,
}
ROLE_CATEGORY_TYPES = {
    "government/public sector/public bank": OrganisationType.PUBLIC_BODY,
    "foundation/philanthropist": OrganisationType.FOUNDATION,
    "nonprofit/ngo": OrganisationType.NON_PROFIT,
    "investment fund": OrganisationType.FINANCIAL_INSTITUTION,
    "impact investor": OrganisationType.FINANCIAL_INSTITUTION,
    "commercial": OrganisationType.FINANCIAL_INSTITUTION,
    "commercia": OrganisationType.FINANCIAL_INSTITUTION,
    "high net worth individual/family office/private bank": OrganisationType.FINANCIAL_INSTITUTION,
    "multilateral/bilateral/intergovernmental financial institution": OrganisationType.FINANCIAL_INSTITUTION,
    "for-profit": OrganisationType.PRIVATE_COMPANY,
    "corporate giving": OrganisationType.PRIVATE_COMPANY,
}
METHODS = (
    ("random", MeasurementMethod.RCT),
    ("pre-post", MeasurementMethod.PRE_POST),
    ("historical", MeasurementMethod.HISTORICAL_BASELINE),
    ("matched", MeasurementMethod.MATCHED_COMPARISON),
    ("comparison group", MeasurementMethod.MATCHED_COMPARISON),
    ("verification", MeasurementMethod.VALIDATED_ADMINISTRATIVE),
    ("administrative", MeasurementMethod.VALIDATED_ADMINISTRATIVE),
)


@cache
def _period_label(start: str | None, end: str | None) -> str | None:
    """INDIGO's payment or result period as a cohort label (``2018-10 to 2022-10``)."""
    if not (start or end):
        return None
    return f"{start or '?'} to {end or '?'}"


def country_names() -> dict[str, str]:
    """English country names (lower case) → ISO 3166-1 alpha-2, from Babel's CLDR data."""
    names = {name.lower(): code for code, name in Locale("en").territories.items() if code in country_codes()}
    names.update({"uk": "GB", "usa": "US", "united states of america": "US", "england": "GB", "scotland": "GB",
                  "wales": "GB", "northern ireland": "GB", "south korea": "KR", "korea": "KR"})
    return names


def parse_country(text: str) -> str | None:
    value = clean(text)
    if re.fullmatch(r"[A-Za-z]{2}", value) and value.upper() in country_codes():
        return value.upper()
    return country_names().get(value.lower()) if value else None


@dataclass
class OrgInfo:
    """An organisation from the organisations table, with the type to show for it."""

    indigo_id: str
    name: str
    type: str
    country: str | None
    website: str | None
    row: dict[str, str] = field(default_factory=dict)


def organisation_index(rows: list[dict[str, str]], role_rows: list[dict[str, str]]) -> dict[str, OrgInfo]:
    """Organisations by INDIGO id. A blank type falls back to the first role category the export gives it."""
    fallback: dict[str, OrganisationType] = {}
    for row in role_rows:
        category = ROLE_CATEGORY_TYPES.get(clean(row.get(ROLE_CATEGORY, "")).lower())
        for org in split_multi(row.get(ORG_VALUE, "")):
            if category and org not in fallback:
                fallback[org] = category
    index: dict[str, OrgInfo] = {}
    for row in rows:
        oid = clean(row.get("ID", ""))
        if not oid:
            continue
        org_type = ORG_TYPES.get(clean(row.get("Type - (Value)", "")).lower()) or fallback.get(oid,
                                                                                             OrganisationType.UNKNOWN)
        website = clean(row.get("Website", "")) or None
        index[oid] = OrgInfo(oid, clean(row.get("Name", "")) or oid, str(org_type),
                             parse_country(row.get("Country", "")) or parse_country(row.get("Jurisdiction", "")),
                             website, row)
    return index


@dataclass
class ProjectRows:
    """One project's row and its child rows, each with its file line number."""

    project: dict[str, str]
    line: int
    children: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)

    def rows(self, table: str) -> list[dict[str, str]]:
        return [row for _, row in self.children.get(table, [])]


def _int(value: Decimal | None) -> int | None:
    if value is None or value != value.to_integral_value() or value < 0:
        return None
    return int(value)


class ProjectMapper:
    """Builds the document of one project; notes and kept values go to the shared report."""

    def __init__(self, rows: ProjectRows, orgs: dict[str, OrgInfo], funds: dict[str, str],
                 report: ImportReport) -> None:
        self.rows = rows
        self.p = rows.project
        self.pid = clean(self.p.get("ID", ""))
        self.orgs = orgs
        self.funds = funds
        self.report = report
        self.source_ids: dict[str, str] = {}  # INDIGO source id -> document source id
        self.sources: list[dict[str, Any]] = []
        self.used_orgs: dict[str, dict[str, Any]] = {}
        self.currency: str | None = None
        self.cited_orgs: set[str] = set()  # organisations named as publishers of sources

    # -- helpers ------------------------------------------------------------------------------------
    def cell(self, column: str, row: dict[str, str] | None = None) -> str:
        return clean((row if row is not None else self.p).get(column, ""))

    def keep(self, table: str, column: str, value: str, reason: str) -> str:
        short = re.sub(r" - \(Value\)$", "", column)
        return self.report.keep(self.pid, table, short, value, reason)

    def url(self, table: str, column: str, row: dict[str, str]) -> str | None:
        """The cell if it is an http(s) URL; any other value is left out and reported (never a link)."""
        raw = self.cell(column, row)
        if not raw:
            return None
        if is_http_url(raw):
            return raw
        self.keep(table, column, raw, "not an http or https URL; left out")
        return None

    def date(self, column: str, notes: list[str], row: dict[str, str] | None = None,
             table: str = "projects") -> str | None:
        raw = self.cell(column, row)
        if not raw:
            return None
        parsed = parse_date(raw)
        if parsed is None:
            notes.append(self.keep(table, column, raw, "not a date"))
        elif parsed != raw:
            notes.append(f"INDIGO {re.sub(r' - [(]Value[)]$', '', column)} written {raw!r}, read as {parsed}")
        return parsed

    def number(self, column: str, notes: list[str], row: dict[str, str] | None = None,
               table: str = "projects") -> Decimal | None:
        raw = self.cell(column, row)
        value, cleaned = parse_number(raw)
        if raw and value is None:
            notes.append(self.keep(table, column, raw, "not a number"))
        elif cleaned:
            notes.append(f"INDIGO {re.sub(r' - [(]Value[)]$', '', column)} written {raw!r}, read as {value}")
        return value

    def currency_of(self, column: str, notes: list[str], row: dict[str, str] | None = None,
                    table: str = "projects") -> str | None:
        raw = self.cell(column, row)
        code, mapped = parse_currency(raw)
        if raw and code is None:
            notes.append(self.keep(table, column, raw, "not an ISO 4217 currency"))
        elif mapped:
            notes.append(f"currency written {raw!r} in INDIGO, read as {code}")
        return code

    def group_sources(self, column: str, notes: list[str]) -> list[str]:
        out = [RECORD_SOURCE]
        missing = []
        for sid in split_multi(self.cell(column)):
            doc_id = self.source_ids.get(sid)
            if doc_id and doc_id not in out:
                out.append(doc_id)
            elif not doc_id:
                missing.append(sid)
        if missing:
            notes.append(f"INDIGO cites {', '.join(missing)}, which the export does not list")
        return out

    def org(self, indigo_id: str, table: str) -> str:
        """The document slug of an organisation, adding it to the document's organisations."""
        slug = slug_of(indigo_id)
        if slug not in self.used_orgs:
            info = self.orgs.get(indigo_id)
            if info is None:
                self.keep(table, "Organisation ID", indigo_id, "organisation not in the organisations table")
                self.used_orgs[slug] = {"id": slug, "name": indigo_id, "type": "unknown", "indigo_id": None}
            else:
                entry: dict[str, Any] = {"id": slug, "name": info.name, "type": info.type}
                if info.country:
                    entry["country"] = info.country
                if re.fullmatch(r"INDIGO-ORG-\d+", indigo_id):
                    entry["indigo_id"] = indigo_id
                if info.website and is_http_url(info.website):
                    entry["website"] = info.website
                elif info.website:
                    self.keep("organisations", "Website", info.website, "not an http or https URL; left out")
                self.used_orgs[slug] = entry
        return slug

    @staticmethod
    def fact(sources: list[str], notes: list[str], **values: Any) -> dict[str, Any]:
        out = {k: v for k, v in values.items() if v is not None}
        out["sources"] = sources
        out["confidence"] = "secondary"
        if notes:
            out["note"] = "; ".join(dict.fromkeys(notes))
        return out

    # -- parts --------------------------------------------------------------------------------------
    def map_sources(self) -> None:
        self.sources.append({
            "id": RECORD_SOURCE,
            "title": f"INDIGO Impact Bond Dataset: {self.pid}",
            "publisher": PUBLISHER,
            "url": DATASET_URL,
            "attribution": ATTRIBUTION,
        })
        for line, row in self.rows.children.get("projects_sources", []):
            sid = self.cell("Id", row)
            if not any(clean(v) for k, v in row.items() if k != "Project ID"):
                self.report.reject("projects_sources", line, self.pid, "empty source row (no id, name or URL)")
                self.report.count("sources", "rejected")
                continue
            if not sid:
                sid = f"source_row{line}"
                self.keep("projects_sources", "Id", "", f"source without an id; kept as {sid}")
            doc_id = "indigo-" + re.sub(r"[^A-Za-z0-9_-]+", "-", sid)[:60]
            if doc_id in {s["id"] for s in self.sources}:
                self.report.reject("projects_sources", line, self.pid, f"duplicate source id {sid!r}")
                self.report.count("sources", "rejected")
                continue
            self.source_ids[sid] = doc_id
            title = self.cell("Name - (Value)", row)
            if not title:
                title = f"{self.pid} {sid} (untitled in INDIGO)"
            src: dict[str, Any] = {"id": doc_id, "title": title, "attribution": ATTRIBUTION}
            publisher = self.cell("Publishing Organisations - (Value)", row)
            if publisher:
                names = [publisher]
                if publisher.startswith("INDIGO-ORG-"):
                    self.cited_orgs.update(split_multi(publisher))
                    names = [self.orgs[o].name if o in self.orgs else o for o in split_multi(publisher)]
                src["publisher"] = ", ".join(names)
            url = self.url("projects_sources", "URL - (Value)", row) or self.url(
                "projects_sources", "Archive URL - (Value)", row)
            if url:
                src["url"] = url
            for column, key in (("Publication Date - (Value)", "date"), ("Accessed Date - (Value)", "accessed")):
                raw = self.cell(column, row)
                if raw:
                    parsed = parse_date(raw)
                    if parsed:
                        src[key] = parsed
                    else:
                        self.keep("projects_sources", column, raw, "not a date")
            self.sources.append(src)
            self.report.count("sources", "imported")
        for n, (_line, row) in enumerate(self.rows.children.get("projects_documents", []), start=1):
            title = self.cell("Title - (Value)", row) or f"{self.pid} document {n}"
            src = {"id": f"indigo-document{n}", "title": title, "publisher": PUBLISHER, "attribution": ATTRIBUTION}
            url = self.url("projects_documents", "URL - (Value)", row)
            if url:
                src["url"] = url
            self.sources.append(src)
            self.report.count("documents", "imported")

    def map_classification(self) -> dict[str, Any] | None:
        notes: list[str] = []
        sources = self.group_sources(PC + "(Source ID's)", notes)
        sector_raw = self.cell(PC_SECTOR)
        sector = parse_sector(sector_raw)
        if sector is None:
            sector = PolicySector.OTHER
            notes.append(self.keep("projects", PC_SECTOR, sector_raw, "not an INDIGO policy sector; shown as other")
                         if sector_raw else "policy sector not stated in INDIGO; shown as other")
        countries: list[str] = []
        places: list[str] = []
        for row in self.rows.rows("projects_delivery_locations"):
            code = parse_country(self.cell("Location - Country - (Value)", row))
            raw_country = self.cell("Location - Country - (Value)", row)
            if raw_country and code is None:
                notes.append(self.keep("projects_delivery_locations", "Location - Country", raw_country,
                                       "not a country code"))
            if code:
                countries.append(code)
            name = self.cell("Location - Name - (Value)", row)
            if name and name not in places:
                places.append(name)
            self.report.count("delivery_locations", "imported")
        jurisdiction = parse_country(self.cell(JURISDICTION))
        ranked = [c for c, _ in Counter(countries).most_common()]
        country = ranked[0] if ranked else jurisdiction
        if country is None:
            payer_countries = [self.orgs[o].country for r in self.rows.rows("projects_outcome_payment_commitments")
                               for o in split_multi(r.get(ORG_VALUE, "")) if o in self.orgs and self.orgs[o].country]
            country = payer_countries[0] if payer_countries else None
            if country:
                notes.append("country of delivery not stated; taken from the outcome payer")
        if country is None:
            return None
        if len(ranked) > 1:
            notes.append("also delivered in " + ", ".join(ranked[1:]))
        if jurisdiction and jurisdiction != country:
            notes.append(f"jurisdiction {jurisdiction}")
        return self.fact(sources, notes, country=country, region="; ".join(places)[:500] or None,
                         policy_sector=str(sector), social_challenge=self.cell(PC_CHALLENGE) or None,
                         intervention=self.cell(PC_INTERVENTION) or None)

    def map_dates(self) -> dict[str, Any]:
        notes: list[str] = []
        sources = self.group_sources(D + "(Source ID's)", notes)
        actual_end = self.date(D_ACT_END, notes)
        anticipated_end = self.date(D_ANT_END, notes)
        if anticipated_end and actual_end and anticipated_end != actual_end:
            notes.append(f"service end anticipated {anticipated_end}")
        elif anticipated_end and not actual_end:
            notes.append("service end is the anticipated date")
        all_signed = self.date(D_ALL_SIGNED, notes)
        if all_signed:
            notes.append(f"contracts between all parties signed {all_signed}")
        for column, label in ((D_ANT_DUR, "anticipated"), (D_ACT_DUR, "actual")):
            months = self.number(column, notes)
            if months is not None:
                notes.append(f"{label} duration of service {number_text(months)} months")
        dates = self.fact(sources, notes, signed=self.date(D_SIGNED, notes), service_start=self.date(D_START, notes),
                          service_end=actual_end or anticipated_end,
                          anticipated_completion=self.date(D_ANT_COMPLETION, notes),
                          actual_completion=self.date(D_ACT_COMPLETION, notes))
        if "note" in dates:  # re-join: notes may have grown while the values were parsed
            dates["note"] = "; ".join(dict.fromkeys(notes))
        return dates

    def map_stage(self, dates: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        notes: list[str] = []
        sources = self.group_sources(STAGE_SRC, notes)
        raw = self.cell(STAGE)
        stage = parse_stage(raw)
        if stage is None:
            if dates.get("actual_completion"):
                stage = Stage.COMPLETE
            elif dates.get("service_start"):
                stage = Stage.IMPLEMENTATION
            else:
                stage = Stage.CONTRACTED
            if raw:
                notes.append(self.keep("projects", STAGE, raw, "not an INDIGO stage"))
            notes.append(f"stage not stated in INDIGO; {stage} inferred from the dates")
            prov = {"sources": sources, "confidence": "unverified", "note": "; ".join(notes)}
            return str(stage), prov
        return str(stage), self.fact(sources, notes)

    def money(self, amount_col: str, usd_col: str | None, cur_col: str | None, notes: list[str],
              sources: list[str], bound: str = "exact", row: dict[str, str] | None = None,
              table: str = "projects") -> dict[str, Any] | None:
        amount = self.number(amount_col, notes, row, table)
        if amount is None:
            return None
        currency = self.currency_of(cur_col, notes, row, table) if cur_col else None
        usd = self.number(usd_col, notes, row, table) if usd_col else None
        return self.fact(sources, notes, amount=str(amount), currency=currency or self.currency,
                         amount_usd=str(usd) if usd is not None else None, bound=bound)

    def map_finance(self) -> dict[str, Any]:
        notes: list[str] = []
        sources = self.group_sources(F + "(Source ID's)", notes)
        candidates = [self.currency_of(F_CUR, []), self.currency_of(F_MOP_CUR, []), self.currency_of(F_PAID_CUR, [])]
        for table, column in (("projects_investments", "Investment Commitment - Currency - (Value)"),
                              ("projects_outcome_payment_commitments",
                               "Maximum potential Outcome payment - Currency - (Value)"),
                              ("projects_outcome_pricings", "Currency - (Value)"),
                              ("projects_outcome_payments", "Payments - Currency - (Value)")):
            candidates += [parse_currency(r.get(column, ""))[0] for r in self.rows.rows(table)]
        # the contract currency: the one most figures use (INDIGO mixes them, e.g. capital in CHF, the rest in USD)
        ranked = Counter(c for c in candidates if c).most_common()
        currency = next((c for c in candidates if c and ranked and dict(ranked)[c] == ranked[0][1]), None)
        if currency is None:
            has_usd = any(self.cell(F_USD.format(b)) for b in ("Min", "Exact", "Max"))
            currency = "USD"
            notes.append("no currency stated in INDIGO; USD assumed" + (" (only USD amounts given)" if has_usd else ""))
        self.currency = currency
        finance: dict[str, Any] = {"currency": currency}
        capital = None
        for bound in ("Exact", "Min", "Max"):
            capital = self.money(F_AMT.format(bound), F_USD.format(bound), F_CUR, list(notes), sources,
                                 bound=bound.lower())
            if capital:
                stated = {b: parse_number(self.cell(F_AMT.format(b)))[0] for b in ("Exact", "Min", "Max") if b != bound}
                others = [f"{b.lower()} {number_text(v)}" for b, v in stated.items() if v is not None]
                if others:
                    capital["note"] = "; ".join(filter(None, [capital.get("note"), "INDIGO also gives " +
                                                              ", ".join(others)]))
                break
        if capital is None:
            usd = next(((b, parse_number(self.cell(F_USD.format(b)))[0]) for b in ("Exact", "Min", "Max")
                        if parse_number(self.cell(F_USD.format(b)))[0] is not None), None)
            if usd:
                capital = self.fact(sources, notes + ["only the USD amount is stated"], amount=str(usd[1]),
                                    currency="USD", amount_usd=str(usd[1]), bound=usd[0].lower())
        if capital:
            finance["capital_committed"] = capital
        mop = self.money(F_MOP, F_MOP_USD, F_MOP_CUR, list(notes), sources)
        if mop:
            finance["max_outcome_payment"] = mop
        paid = self.money(F_PAID, F_PAID_USD, F_PAID_CUR, list(notes), sources)
        if paid:
            finance["total_outcome_payments_made"] = paid
        inv_notes: list[str] = []
        inv_sources = self.group_sources(IDT + "(Source ID's)", inv_notes)
        funds = self.money(I_FUNDS, I_FUNDS_USD, I_FUNDS_CUR, inv_notes, inv_sources)
        if funds:
            funds_date = self.date(I_FUNDS_DATE, inv_notes)
            if funds_date:
                funds["note"] = "; ".join(filter(None, [funds.get("note"), f"as of {funds_date}"]))
            finance["capital_drawn"] = funds
        for column, key in ((I_IRR_TARGET, "target_irr"), (I_IRR_LATEST, "realised_irr")):
            raw = self.cell(column)
            if raw:
                rate = parse_rate(raw)
                local = list(inv_notes)
                if rate is None:
                    self.keep("projects", column, raw, "not a rate")
                    continue
                if str(rate) != raw:
                    local.append(f"INDIGO {key.replace('_', ' ')} written {raw!r}, read as {rate}")
                irr_date = self.date(I_IRR_DATE, local) if key == "realised_irr" else None
                if irr_date:
                    local.append(f"as of {irr_date}")
                finance[key] = self.fact(inv_sources, local, value=str(rate), unit="IRR")
        loss = self.cell(F_LOSS)
        if loss:
            finance["max_potential_loss"] = loss
        repay = self.cell(F_REPAY)
        if repay:
            finance["investor_repayment_provenance"] = self.fact(
                sources, notes + ["INDIGO: overall project finance, investor repayment"])
        else:
            repay, provenance = self.investments_repayment()
            if provenance:
                finance["investor_repayment_provenance"] = provenance
        if repay:
            finance["investor_repayment"] = repay
        return finance

    def investments_repayment(self) -> tuple[str | None, dict[str, Any] | None]:
        """The investments' statements of investor repayment, joined, with the sources their rows cite."""
        stated: list[str] = []
        sources = [RECORD_SOURCE]
        for row in self.rows.rows("projects_investments"):
            text = self.cell("Investor Repayment - (Value)", row)
            if not text:
                continue
            stated.append(text)
            for sid in split_multi(self.cell("Sources", row)):
                if sid in self.source_ids and self.source_ids[sid] not in sources:
                    sources.append(self.source_ids[sid])
        if not stated:
            return None, None
        return "; ".join(dict.fromkeys(stated)), self.fact(
            sources, [f"INDIGO: investor repayment of {len(stated)} investment(s)"])

    def map_parties(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        roles: dict[str, list[str]] = {}
        descriptions: dict[str, list[str]] = {}

        def add(org_id: str, role: Role, table: str, text: str | None = None) -> None:
            slug = self.org(org_id, table)
            roles.setdefault(slug, [])
            if str(role) not in roles[slug]:
                roles[slug].append(str(role))
            if text:
                descriptions.setdefault(slug, [])
                if text not in descriptions[slug]:
                    descriptions[slug].append(text)

        investments: list[dict[str, Any]] = []
        used_ids: set[str] = set()
        for n, (line, row) in enumerate(self.rows.children.get("projects_investments", []), start=1):
            org_ids = split_multi(row.get(ORG_VALUE, ""))
            if not org_ids:
                self.report.reject("projects_investments", line, self.pid, "investment without an organisation")
                self.report.count("investments", "rejected")
                continue
            category = self.cell(ROLE_CATEGORY, row)
            for oid in org_ids:
                add(oid, Role.INVESTOR, "projects_investments", category and f"investor ({category})")
            investments.append(self.investment(n, row, org_ids, used_ids))
            self.report.count("investments", "imported")
        for row in self.rows.rows("projects_outcome_payment_commitments"):
            category = self.cell(ROLE_CATEGORY, row)
            org_ids = split_multi(row.get(ORG_VALUE, ""))
            for oid in org_ids:
                add(oid, Role.OUTCOME_PAYER, "projects_outcome_payment_commitments",
                    self.commitment_text(row, category))
            self.report.count("payment_commitments", "imported")
        for row in self.rows.rows("projects_service_provisions"):
            category = self.cell(ROLE_CATEGORY, row)
            for oid in split_multi(row.get(ORG_VALUE, "")):
                add(oid, Role.PROVIDER, "projects_service_provisions",
                    "; ".join(filter(None, [category and f"provider ({category})",
                                            self.cell("Intervention - (Value)", row)])) or None)
            self.report.count("service_provisions", "imported")
        for row in self.rows.rows("projects_intermediary_services"):
            category = self.cell(ROLE_CATEGORY, row)
            role = Role.TECHNICAL_ADVISER if category.lower() in {"technical assistance", "legal counsel"} \
                else Role.INTERMEDIARY
            other = self.cell("Other Role Description - (Value)", row)
            for oid in split_multi(row.get(ORG_VALUE, "")):
                add(oid, role, "projects_intermediary_services",
                    "; ".join(filter(None, [category and f"intermediary: {category}", other])) or None)
            self.report.count("intermediary_services", "imported")
        for row in self.rows.rows("projects_results"):
            for oid in split_multi(row.get("Outcomes validator(s) - (Value)", "")):
                add(oid, Role.EVALUATOR, "projects_results", "outcomes validator")
        parties = []
        for slug, role_list in roles.items():
            party: dict[str, Any] = {"organisation": slug, "roles": role_list, "sources": [RECORD_SOURCE],
                                     "confidence": "secondary"}
            if descriptions.get(slug):
                party["description"] = "; ".join(descriptions[slug])[:2000]
            parties.append(party)
        return parties, investments

    def commitment_text(self, row: dict[str, str], category: str) -> str | None:
        notes: list[str] = []
        t = "projects_outcome_payment_commitments"
        parts = [category and f"outcome payer ({category})"]
        amount = self.number("Maximum potential Outcome payment - Amount - (Value)", notes, row, t)
        currency = self.currency_of("Maximum potential Outcome payment - Currency - (Value)", notes, row, t)
        if amount is not None:
            parts.append(f"maximum outcome payment {currency or self.currency} {number_text(amount)}")
        paid = self.number("Total outcome payments made - Amount - (Value)", notes, row, t)
        if paid is not None:
            paid_cur = self.currency_of("Total outcome payments made - Currency - (Value)", notes, row, t)
            parts.append(f"outcome payments made {paid_cur or self.currency} {number_text(paid)}")
        start, end = self.cell("Period - Start - (Value)", row), self.cell("Period - End - (Value)", row)
        if start or end:
            parts.append(f"period {start or '?'} to {end or '?'}")
        for column in ("Alterations to payment commitment - Description - (Value)",
                       "Alterations to payment commitment - Reason - (Value)"):
            if self.cell(column, row):
                parts.append(self.cell(column, row))
        parts.extend(notes)
        return "; ".join(p for p in parts if p) or None

    def investment(self, n: int, row: dict[str, str], org_ids: list[str], used: set[str]) -> dict[str, Any]:
        table = "projects_investments"
        notes: list[str] = []
        raw_id = self.cell("Id", row)
        inv_id = raw_id if raw_id and IDENT.match(raw_id) and raw_id not in used else f"investment_row{n}"
        if raw_id != inv_id:
            notes.append(f"INDIGO id {raw_id!r} blank or repeated; row {n} of the project")
        used.add(inv_id)
        type_raw = self.cell("Investment Type - (Value)", row)
        tranche = parse_tranche(type_raw)
        if type_raw and tranche is None:
            notes.append(self.keep(table, "Investment Type", type_raw, "not a known investment type; tranche other"))
        elif type_raw:
            notes.append(f"investment type in INDIGO: {type_raw}")
        committed = None
        bound = "exact"
        for b in ("Exact", "Min", "Max"):
            amount = self.number(f"Investment Commitment - Amount - {b} - (Value)", notes, row, table)
            if amount is not None:
                currency = self.currency_of("Investment Commitment - Currency - (Value)", notes, row, table)
                committed = {"amount": str(amount), "currency": currency or self.currency}
                bound = b.lower()
                usd = self.number(f"Investment Commitment - Amount USD - {b} - (Value)", notes, row, table)
                if usd is not None:
                    notes.append(f"USD {number_text(usd)}")
                break
        desc = []
        if len(org_ids) > 1:
            desc.append("joint investment by " + ", ".join(org_ids))
        loss = self.cell("Maximum Potential loss - (Value)", row)
        if loss:
            desc.append(f"maximum potential loss: {loss}")
        ret = self.cell("Maximum Potential Return - (Value)", row)
        if ret:
            desc.append(f"maximum potential return: {ret}")
        repay = self.cell("Investor Repayment - (Value)", row)
        if repay:
            desc.append(f"investor repayment: {repay}")
        note_cell = self.cell("Notes", row)
        if note_cell:
            desc.append(note_cell)
        out: dict[str, Any] = {"id": inv_id, "investor": slug_of(org_ids[0]),
                               "tranche": str(tranche) if tranche else "other", "amount_bound": bound}
        if committed:
            out["committed"] = committed
        if desc:
            out["description"] = "; ".join(desc)
        out.update(self.fact([RECORD_SOURCE], [x for x in notes if x]))
        return out

    def map_metrics(self) -> list[dict[str, Any]]:
        metrics = []
        used: set[str] = set()
        table = "projects_outcome_metrics"
        for n, (_line, row) in enumerate(self.rows.children.get(table, []), start=1):
            notes: list[str] = []
            raw_id = self.cell("Id", row)
            mid = raw_id if raw_id and IDENT.match(raw_id) and raw_id not in used else f"outcomemetric_row{n}"
            if mid != raw_id:
                notes.append(f"INDIGO id {raw_id!r} blank or repeated")
            used.add(mid)
            definition = self.cell("Outcome Definition - (Value)", row)
            name = definition.split("\n")[0]
            name = (name[:157] + "...") if len(name) > 160 else name
            metric: dict[str, Any] = {"id": mid, "name": {"en": name or f"Outcome metric {n}"}, "kind": "count",
                                      "unit": self.cell("Unit description of Service user or beneficiaries - (Value)",
                                                        row) or None,
                                      "definition": definition or None}
            method_raw = self.cell("Outcome validation Method - (Value)", row)
            method = next((m for key, m in METHODS if key in method_raw.lower()), None) if method_raw else None
            fallback = MeasurementMethod.OTHER if method_raw else MeasurementMethod.UNKNOWN
            metric["measurement"] = str(method or fallback)
            if method_raw:
                notes.append(f"validation method: {method_raw}")
            data_source = self.cell("Data source for Outcome validation - (Value)", row)
            if data_source:
                notes.append(f"data source: {data_source}")
            target_text = self.cell("Outcome metric target - (Value)", row)
            other_target = self.cell("Other target for Meeting outcome metric target - (Value)", row)
            if target_text or other_target:
                metric["comparison"] = "; ".join(filter(None, [target_text, other_target]))
            targeted = self.number("Targeted number of service users Or beneficiaries (total) - (Value)", notes,
                                   row, table)
            if targeted is not None:
                metric["targets"] = [{"value": str(targeted), "description":
                                      "targeted number of service users or beneficiaries (INDIGO)"}]
            population = self.cell("Target Population - (Value)", row)
            if population:
                notes.append(f"target population: {population}")
            metric.update(self.fact([RECORD_SOURCE], notes))
            metrics.append({k: v for k, v in metric.items() if v is not None})
            self.report.count("outcome_metrics", "imported")
        return metrics

    def map_population(self) -> dict[str, Any] | None:
        notes: list[str] = []
        sources = self.group_sources(SB + "(Source ID's)", notes)
        text = self.cell(SB_POP)
        targeted = _int(self.number(SB_TARGET, notes))
        actual = _int(self.number(SB_ACTUAL, notes))
        unit = self.cell(SB_TARGET_UNIT) or self.cell(SB_TARGET_TYPE) or None
        if not (text or targeted is not None or actual is not None):
            return None
        return self.fact(sources, notes, description={"en": text} if text else None,
                         targeted_participants=targeted, actual_participants=actual, unit=unit)

    def map_payments(self, metric_ids: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        realised, milestones = [], []
        table = "projects_outcome_payments"
        for _line, row in self.rows.children.get(table, []):
            notes: list[str] = []
            kind = self.cell("Type - (Value)", row)
            amount = self.number("Payments - Amount - (Value)", notes, row, table)
            currency = self.currency_of("Payments - Currency - (Value)", notes, row, table) or self.currency
            start = self.date("Period - Start - (Value)", notes, row, table)
            end = self.date("Period - End - (Value)", notes, row, table)
            payers = split_multi(row.get("Payer Organisation ID - (Value)", ""))
            payees = split_multi(row.get("Recipient Organisation ID - (Value)", ""))
            for oid in payers + payees:
                self.org(oid, table)
            plan = self.cell("Outcome Payment Plan Id - (Value)", row)
            metric = self.cell("Outcome Metric Id - (Value)", row)
            usd = self.number("Payments - Amount USD - (Value)", notes, row, table)
            parts = [f"period {start or '?'} to {end or '?'}"]
            if plan:
                parts.append(f"plan {plan}")
            if len(payers) > 1:
                parts.append("paid by " + ", ".join(payers))
            if len(payees) > 1:
                parts.append("paid to " + ", ".join(payees))
            if usd is not None:
                parts.append(f"USD {number_text(usd)}")
            if metric:
                parts.append(f"outcome metric {metric}")
            parts.extend(notes)
            if kind.lower() == "actual" and amount is not None and currency:
                payment: dict[str, Any] = {"date": end or start, "component": "outcome",
                                           "amount": str(amount), "currency": currency,
                                           "cohort": _period_label(start, end),
                                           "description": "; ".join(parts)}
                if len(payers) == 1:
                    payment["payer"] = slug_of(payers[0])
                if len(payees) == 1:
                    payment["payee"] = slug_of(payees[0])
                payment.update(self.fact([RECORD_SOURCE], []))
                realised.append({k: v for k, v in payment.items() if v is not None})
            else:
                label = {"planned": "Planned outcome payment", "actual": "Outcome payment (amount not stated)"}.get(
                    kind.lower(), "Outcome payment (type not stated)")
                if kind.lower() not in {"planned", "actual"}:
                    self.keep(table, "Type", kind, "payment type not Planned/Actual; kept as a milestone")
                amount_text = f"{currency} {number_text(amount)}" if amount is not None else "amount not stated"
                when = end or start or parse_date(self.cell(D_START)) or parse_date(self.cell(D_SIGNED)) or "1900"
                milestones.append({"date": when,
                                   "kind": "payment",
                                   "description": f"{label}: {amount_text}; " + "; ".join(parts)})
            self.report.count("outcome_payments", "imported")
        return realised, milestones

    def map_results(self, metric_ids: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Results as stated (summaries), and the measured values among them (``history.outcomes``)."""
        results: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        table = "projects_results"
        for row in self.rows.rows(table):
            notes: list[str] = []
            level, kind = self.cell("Result level - (Value)", row), self.cell("Result type - (Value)", row)
            start = self.date("Period - Start - (Value)", notes, row, table)
            end = self.date("Period - End - (Value)", notes, row, table)
            metric = self.cell("Outcome Metric Id - (Value)", row)
            parts = [" ".join(filter(None, [kind or "", (level or "").lower(), "result"])).strip().capitalize()]
            if start or end:
                parts[0] += f" ({start or '?'} to {end or '?'})"
            for column, label in (("Outcomes achieved - (Value)", "outcomes achieved"),
                                  ("Number engaged In impact bond - (Value)", "engaged"),
                                  ("Number with Positive social outcomes - (Value)", "with positive outcomes")):
                value = self.cell(column, row)
                if value:
                    parts.append(f"{label}: {value}")
            other = self.cell("Other Description of result - (Value)", row)
            if other:
                parts.append(other)
            docs = self.cell("Evaluation Documents - (Value)", row)
            sources = [RECORD_SOURCE]
            for sid in split_multi(docs):
                if sid in self.source_ids:
                    sources.append(self.source_ids[sid])
                else:
                    notes.append(f"evaluation document {sid}")
            result: dict[str, Any] = {"summary": {"en": "; ".join(parts)}, "date": end or start}
            if metric and metric in metric_ids:
                result["metric"] = metric
            elif metric:
                notes.append(self.keep(table, "Outcome Metric Id", metric, "no such outcome metric in the project"))
            result.update(self.fact(sources, notes))
            results.append({k: v for k, v in result.items() if v is not None})
            self.report.count("results", "imported")
            if "metric" in result:
                outcome = self.outcome_value(row, metric, start, end, sources, notes)
                if outcome is not None:
                    outcomes.append(outcome)
        return results, outcomes

    def outcome_value(self, row: dict[str, str], metric: str, start: str | None, end: str | None,
                      sources: list[str], notes: list[str]) -> dict[str, Any] | None:
        """The result's count of positive outcomes as a measured value of its metric (INDIGO metrics are counts).

        The count is ``Number with positive social outcomes``, else ``Outcomes achieved`` where that is a plain
        number; ``Outcomes achieved`` is often prose ("Actual was 12.8% (96)"), which stays in the summary only.
        """
        table = "projects_results"
        local: list[str] = []
        positive = self.number("Number with Positive social outcomes - (Value)", local, row, table)
        column = "Number with positive social outcomes"
        if positive is None:
            positive, _ = parse_number(self.cell("Outcomes achieved - (Value)", row))
            column = "Outcomes achieved"
        if positive is None:
            return None
        engaged = self.number("Number engaged In impact bond - (Value)", local, row, table)
        kind = self.cell("Result type - (Value)", row)
        label = " ".join(filter(None, [kind.lower() if kind else None, _period_label(start, end)])) or None
        value: dict[str, Any] = {"metric": metric, "cohort": label, "period_start": start, "period_end": end,
                                 "date": end or start, "value": str(positive),
                                 "n": _int(engaged) if engaged is not None and engaged >= 0 else None,
                                 "description": f"INDIGO result: {column.lower()}"}
        value.update(self.fact(sources, notes + local))
        return {k: v for k, v in value.items() if v is not None}

    def investor_results(self, finance: dict[str, Any], investments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """INDIGO's latest IRR as the investor's realised result, where one investor holds all the capital.

        The IRR is stated for the project; with several investors it cannot be given to one of them, and it
        stays in ``finance.realised_irr`` only.
        """
        irr = finance.get("realised_irr")
        investors = {inv["investor"] for inv in investments if inv.get("tranche") not in ("grant", "guarantee")}
        if not irr or len(investors) != 1:
            return []
        result: dict[str, Any] = {"investor": next(iter(investors)), "irr": irr["value"],
                                  "description": "latest IRR stated for the project (INDIGO)"}
        result.update({k: irr[k] for k in ("sources", "confidence", "note") if k in irr})
        return [result]

    def programme(self) -> str | None:
        names = []
        for row in self.rows.rows("projects_outcome_funds"):
            fid = self.cell("Id", row)
            if fid:
                names.append(f"{self.funds.get(fid, fid)} ({fid})" if fid in self.funds else fid)
            self.report.count("outcome_funds", "imported")
        return "; ".join(names) or None

    # -- the whole document ---------------------------------------------------------------------------
    def document(self) -> dict[str, Any] | None:
        """The project as contract-document data (not yet validated), or ``None`` if it cannot be placed."""
        self.map_sources()
        classification = self.map_classification()
        if classification is None:
            self.report.reject("projects", self.rows.line, self.pid,
                               "no country: no delivery location, jurisdiction or outcome payer country")
            return None
        finance = self.map_finance()
        dates = self.map_dates()
        stage, stage_prov = self.map_stage(dates)
        parties, investments = self.map_parties()
        metrics = self.map_metrics()
        metric_ids = {m["id"] for m in metrics}
        realised, milestones = self.map_payments(metric_ids)
        results, outcomes = self.map_results(metric_ids)
        name = self.cell(NAME)
        alt = self.cell(ALT_NAMES)
        identity: dict[str, Any] = {"names": {"en": name or self.pid}}
        if alt:
            identity["alternative_names"] = [alt]
        if not name:
            self.keep("projects", NAME, "", "project without a name; its INDIGO id is shown")
        doc: dict[str, Any] = {
            "schema": "utfall-contract/1",
            "id": slug_of(self.pid),
            "indigo_id": self.pid,
            "origin": "indigo",
            "programme": self.programme(),
            "identity": identity,
            "classification": classification,
            "stage": stage,
            "stage_provenance": stage_prov,
            "dates": dates,
            "finance": finance,
            "organisations": list(self.used_orgs.values()),
            "parties": parties,
            "investments": investments,
            "target_population": self.map_population(),
            "outcome_metrics": metrics,
            "results": results,
            "milestones": sorted(milestones, key=lambda m: m["date"]),
            "sources": self.sources,
        }
        history = {"outcomes": outcomes, "payments": realised,
                   "investor_results": self.investor_results(finance, investments)}
        if any(history.values()):
            doc["history"] = {k: v for k, v in history.items() if v}
        config = self.cell(F_CONFIG)
        if config:
            gov_notes: list[str] = []
            doc["governance"] = [self.fact(self.group_sources(F + "(Source ID's)", gov_notes), gov_notes,
                                           description={"en": f"Contracting structure: {config}"})]
        project_notes = self.cell("Notes - (Value)")
        if project_notes:
            note = classification.get("note")
            classification["note"] = "; ".join(filter(None, [note, f"INDIGO project notes: {project_notes}"]))
        return {k: v for k, v in doc.items() if v is not None}
