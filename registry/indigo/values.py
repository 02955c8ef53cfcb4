"""Cell-level parsing of INDIGO values: dates, numbers, currencies, codelists, multi-valued cells.

Each parser returns the parsed value, or ``None`` when the cell cannot be mapped; the caller keeps the
original text (a note on the fact and a line in the import report), so nothing is dropped silently.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from registry.schema import PolicySector, Stage, TrancheType

ATTRIBUTION = "Source: INDIGO Impact Bond Dataset, Government Outcomes Lab (GO Lab), University of Oxford"
DATASET_URL = "https://golab.bsg.ox.ac.uk/knowledge-bank/indigo/impact-bond-dataset-v2/"
PUBLISHER = "Government Outcomes Lab (GO Lab), University of Oxford"
# GO Lab's 2025-12-24 export, shipped as package data so a new installation has the whole dataset (see its README).
BUNDLED_EXPORT = Path(__file__).resolve().parent / "data" / "2025-12"
BUNDLED_EXPORT_DATE = "2025-12-24"

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def clean(text: str | None) -> str:
    """A cell with non-breaking spaces and surrounding whitespace removed."""
    if not text:
        return ""
    return text.replace("\u00a0", " ").replace("\u202f", " ").strip()


def split_multi(text: str) -> list[str]:
    """A comma-separated multi-valued cell (``INDIGO-ORG-0171, INDIGO-ORG-1155``) as a list."""
    return [part.strip() for part in clean(text).split(",") if part.strip()]


def _valid(y: int, m: int | None, d: int | None) -> str | None:
    try:
        if d is not None:
            return date(y, m or 1, d).isoformat()
        if m is not None:
            return f"{y:04d}-{m:02d}" if 1 <= m <= 12 else None
        return f"{y:04d}" if 1900 <= y <= 2100 else None
    except ValueError:
        return None


def parse_date(text: str) -> str | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (also ``2022-6-1``, ``6th December 2024``, ``Sept 28 2022``)."""
    value = clean(text)
    if not value:
        return None
    match = _ISO_DATE.match(value)
    if match:
        y, m, d = match.groups()
        return _valid(int(y), int(m) if m else None, int(d) if d else None)
    words = re.findall(r"[A-Za-z]+|\d+", value)
    year = next((int(w) for w in words if w.isdigit() and len(w) == 4), None)
    month = next((_MONTHS[w[:3].lower()] for w in words if w.isalpha() and w[:3].lower() in _MONTHS), None)
    days = [int(w) for w in words if w.isdigit() and len(w) <= 2]
    if year is None or month is None or len(days) > 1:
        return None
    leftovers = [w for w in words if w.isalpha() and w[:3].lower() not in _MONTHS and w.lower() not in
                 {"st", "nd", "rd", "th", "of"}]
    if leftovers:
        return None
    return _valid(year, month, days[0] if days else None)


_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_GROUPED = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SYMBOLS = re.compile(r"^(?:[A-Z]{1,3}\$|[$£€¥]|[A-Z]{3}\s)")


def parse_number(text: str) -> tuple[Decimal | None, bool]:
    """A plain number, and whether the cell needed cleaning (``$10,000,000`` → 10000000, True).

    Formulas (``=D41-D36``), ranges, words and abbreviations (``C$1.16M``) are not numbers: ``(None, False)``.
    """
    value = clean(text)
    if not value:
        return None, False
    if _NUMBER.match(value):
        try:
            return Decimal(value), False
        except InvalidOperation:
            return None, False
    stripped = _SYMBOLS.sub("", value).strip()
    if _NUMBER.match(stripped) or _GROUPED.match(stripped):
        return Decimal(stripped.replace(",", "")), True
    return None, False


# INDIGO writes currencies as ISO codes or as names; names seen in the exports and their codes.
CURRENCY_NAMES = {
    "swedish": "SEK", "swedish krona": "SEK", "swedish kronor": "SEK", "sek": "SEK",
    "japanese yen": "JPY", "yen": "JPY",
    "russian ruble": "RUB", "russian rubles": "RUB", "russian rouble": "RUB",
    "israeli new shekels": "ILS", "israeli new shekel": "ILS",
    "nz dollar": "NZD", "new zealand dollar": "NZD",
    "swiss francs": "CHF", "swiss franc": "CHF",
    "south african rand": "ZAR", "south korean won": "KRW",
    "euro": "EUR", "euros": "EUR", "pound sterling": "GBP", "us dollar": "USD", "us dollars": "USD",
    "danish krone": "DKK", "danish kroner": "DKK", "norwegian krone": "NOK", "canadian dollar": "CAD",
    "australian dollar": "AUD",
}


def parse_currency(text: str) -> tuple[str | None, bool]:
    """An ISO 4217 code and whether it was mapped from a name (``Swedish`` → SEK, True)."""
    value = clean(text)
    if not value:
        return None, False
    if re.fullmatch(r"[A-Za-z]{3}", value):
        return value.upper(), value != value.upper()
    code = CURRENCY_NAMES.get(value.lower())
    return (code, True) if code else (None, False)


STAGES = {
    "contracted": Stage.CONTRACTED,
    "implementation": Stage.IMPLEMENTATION,
    "service delivery complete": Stage.SERVICE_DELIVERY_COMPLETE,
    "complete": Stage.COMPLETE,
    "completed": Stage.COMPLETE,
    "early-stage design": Stage.DESIGN,
    "late-stage design": Stage.DESIGN,
}
STAGE_NAMES = {
    Stage.CONTRACTED: "Contracted", Stage.IMPLEMENTATION: "Implementation",
    Stage.SERVICE_DELIVERY_COMPLETE: "Service delivery complete", Stage.COMPLETE: "Complete",
    Stage.DESIGN: "Contracted", Stage.TERMINATED: "Complete",
}

SECTORS = {
    "employment and training": PolicySector.EMPLOYMENT_AND_TRAINING,
    "child and family welfare": PolicySector.CHILD_AND_FAMILY_WELFARE,
    "health": PolicySector.HEALTH,
    "homelessness": PolicySector.HOMELESSNESS,
    "education": PolicySector.EDUCATION,
    "criminal justice": PolicySector.CRIMINAL_JUSTICE,
    "agriculture and environment": PolicySector.AGRICULTURE_AND_ENVIRONMENT,
    "poverty reduction": PolicySector.POVERTY_REDUCTION,
}
SECTOR_NAMES = {v: k[0].upper() + k[1:] for k, v in SECTORS.items()}
SECTOR_NAMES[PolicySector.OTHER] = "Other"


def parse_stage(text: str) -> Stage | None:
    return STAGES.get(clean(text).lower())


def parse_sector(text: str) -> PolicySector | None:
    return SECTORS.get(clean(text).lower())


def parse_tranche(text: str) -> TrancheType | None:
    """INDIGO's free-text investment type as a tranche type (``None`` when the text says nothing usable)."""
    value = clean(text).lower()
    if not value:
        return None
    if "first loss" in value:
        return TrancheType.FIRST_LOSS
    if "subordinat" in value or "junior" in value:
        return TrancheType.SUBORDINATED
    if "grant" in value:
        return TrancheType.GRANT
    if "risk share" in value or "guarantee" in value:
        return TrancheType.GUARANTEE
    if "equity" in value and "debt" not in value:
        return TrancheType.EQUITY
    if "senior" in value or value in {"loan", "debt", "senior debt"} or "loan" in value:
        return TrancheType.SENIOR
    return None


def parse_share(text: str) -> Decimal | None:
    """A share stated as ``0.5``, ``50%`` or ``50% of principal`` → 0.5; a number above 1 is not a share."""
    value = clean(text)
    match = re.match(r"^(\d+(?:\.\d+)?)\s*%", value)
    if match:
        return Decimal(match.group(1)) / 100
    number, _ = parse_number(value)
    if number is not None and 0 <= number <= 1:
        return number
    return None


def parse_rate(text: str) -> Decimal | None:
    """An annual rate: ``0.08`` → 0.08, ``3.5`` (a percentage written as a number) → 0.035, ``8%`` → 0.08."""
    value = clean(text)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", value)
    if match:
        return Decimal(match.group(1)) / 100
    number, cleaned = parse_number(value)
    if number is None or cleaned or number < 0:
        return None
    return number if number < 1 else number / 100


def slug_of(indigo_id: str) -> str:
    """``INDIGO-POJ-0077`` → ``indigo-poj-0077``."""
    return re.sub(r"[^a-z0-9]+", "-", indigo_id.lower()).strip("-")
