"""The registry list: its query string, the one listing query behind it, its rows and its download table, every
cell in the reader's language; and the labels of the investor repayment classes the list shows and filters by."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from flask import request
from sqlmodel import Session

from registry.backtest import VERDICTS
from registry.market import REPAYMENT_CLASSES, SIZE_BANDS
from registry.schema import PolicySector, Stage
from registry.services.contracts import (
    SORTABLE,
    ContractFilter,
    ContractPage,
    list_contracts,
    outcome_payers,
    reader_name,
)
from web.extensions import session as db_session
from web.formatting import N_, money_short, translate
from web.formatting import country as country_name
from web.vocabulary import vocab

PER_PAGE = 50
ORIGINS = ("curated", "indigo")
PAYER_TYPES = ("local_government", "regional_government", "central_government", "public_body", "foundation",
               "other")


# --- investor repayment, in the market statistics' classes --------------------------------------

RESULT_CLASSES = REPAYMENT_CLASSES  # full, partial, none, unknown (registry.market.repayment_of)
FINISHED = ("complete", "terminated")


RESULT_LABELS = {
    "full": N_("repaid in full"),
    "partial": N_("partly repaid"),
    "none": N_("not repaid"),
    "unknown": N_("not publicly known"),
}


def result_label(cls: str | None) -> str:
    label = RESULT_LABELS.get(cls or "")
    return translate(label) if label else "–"


# --- the list -----------------------------------------------------------------------------------------------


@dataclass
class RegistryQuery:
    """The registry page's query string, parsed and checked (unknown values are dropped, not errors)."""

    text: str = ""
    country: str = ""
    sector: str = ""
    stage: str = ""
    origin: str = ""
    payer_type: str = ""
    size: str = ""
    result: str = ""
    reproduced: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> RegistryQuery:
        def pick(name: str, allowed: Sequence[str]) -> str:
            value = (args.get(name) or "").strip()
            return value if value in allowed else ""

        try:
            page = min(max(1, int(args.get("page", 1))), (2**31 - 1) // PER_PAGE)  # offset fits every database
        except ValueError:
            page = 1
        sort = args.get("sort", "name")
        return cls(
            text=(args.get("q") or "").strip()[:200],
            country=(args.get("country") or "").strip().upper()[:2],
            sector=pick("sector", [s.value for s in PolicySector]),
            stage=pick("stage", [s.value for s in Stage]),
            origin=pick("origin", ORIGINS),
            payer_type=pick("payer_type", PAYER_TYPES),
            size=pick("size", list(SIZE_BANDS)),
            result=pick("result", RESULT_CLASSES),
            reproduced=pick("reproduced", VERDICTS),
            sort=sort if sort in SORTABLE else "name",
            descending=args.get("dir") == "desc",
            page=page,
        )

    def contract_filter(self) -> ContractFilter:
        return ContractFilter(text=self.text or None, country=self.country or None, sector=self.sector or None,
                              stage=self.stage or None, origin=self.origin or None,
                              payer_type=self.payer_type or None, size=self.size or None,
                              reproduced=self.reproduced or None, repayment=self.result or None)

    def selection(self, session: Session, *, lang: str, paginate: bool) -> ContractPage:
        """The contracts of this selection (rows of ``LIST_COLUMNS``), in the reader's order, and their count."""
        paging = {"limit": PER_PAGE, "offset": (self.page - 1) * PER_PAGE} if paginate else {}
        return list_contracts(session=session, filters=self.contract_filter(), sort=self.sort,
                              descending=self.descending, lang=lang, **paging)

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this selection (with ``changes``), without empty values."""
        values = {"q": self.text, "country": self.country, "sector": self.sector, "stage": self.stage,
                  "origin": self.origin, "payer_type": self.payer_type, "size": self.size, "result": self.result,
                  "reproduced": self.reproduced,
                  "sort": "" if self.sort == "name" else self.sort, "dir": "desc" if self.descending else "",
                  "page": "" if self.page == 1 else self.page}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


@dataclass(frozen=True)
class RegistryItem:
    """One row of the registry table, with every cell already in the reader's language."""

    id: str
    name: str
    indigo: bool
    country: str
    region: str | None
    sector: str
    stage: str
    year: int | None
    capital: str
    result: str


def registry_items(rows: Sequence[Any], lang: str) -> list[RegistryItem]:
    """The table rows for ``rows``. A page repeats a handful of countries, sectors, stages and result
    classes, so each label is looked up once per page instead of once per cell."""
    labels: dict[tuple[str, Any], str] = {}

    def label(kind: str, value: Any, make: Callable[[Any], str]) -> str:
        key = (kind, value)
        if key not in labels:
            labels[key] = make(value)
        return labels[key]

    items = []
    for r in rows:
        items.append(RegistryItem(
            id=r.id,
            name=reader_name(r, lang),
            indigo=r.origin == "indigo",
            country=label("country", r.country, country_name),
            region=r.region,
            sector=label("sector", r.policy_sector, lambda v: vocab(v, "sector")),
            stage=label("stage", r.stage, lambda v: vocab(v, "stage")),
            year=r.start_year,
            capital=money_short(r.capital_committed, r.currency) if r.capital_committed is not None else "–",
            # an unfinished contract with nothing known has no result yet, rather than an unknown one
            result=label("result", r.repayment_class, result_label)
            if r.repayment_class != "unknown" or r.stage in FINISHED else "–",
        ))
    return items


def selection_frame(rows: Sequence[Any], lang: str) -> pd.DataFrame:
    """The download table of ``rows``: the indexed columns, names in the reader's language, outcome payers and
    each contract's URL."""
    records = []
    payers = outcome_payers(session=db_session(), contract_ids=[r.id for r in rows])
    for r in rows:
        records.append({
            "id": r.id,
            "name": reader_name(r, lang),
            "name_sv": r.name_sv,
            "name_en": r.name_en,
            "indigo_id": r.indigo_id,
            "origin": r.origin,
            "country": r.country,
            "region": r.region,
            "policy_sector": r.policy_sector,
            "stage": r.stage,
            "start_year": r.start_year,
            "currency": r.currency,
            "capital_committed": float(r.capital_committed) if r.capital_committed is not None else None,
            "capital_committed_usd": float(r.capital_committed_usd) if r.capital_committed_usd is not None else None,
            "max_outcome_payment": float(r.max_outcome_payment) if r.max_outcome_payment is not None else None,
            "participants_targeted": r.participants_targeted,
            "investor_repayment": r.investor_repayment,
            "repayment_class": r.repayment_class,
            "outcome_payers": ", ".join(payers.get(r.id, [])),
            "url": request.host_url.rstrip("/") + f"/contracts/{r.id}",
        })
    return pd.DataFrame.from_records(records, columns=[
        "id", "name", "name_sv", "name_en", "indigo_id", "origin", "country", "region", "policy_sector", "stage",
        "start_year", "currency", "capital_committed", "capital_committed_usd", "max_outcome_payment",
        "participants_targeted", "investor_repayment", "repayment_class", "outcome_payers", "url"])


