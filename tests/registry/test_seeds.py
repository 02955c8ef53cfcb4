"""The curated seed contracts (seed_contracts/*.yaml): they parse, validate and keep their provenance honest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from registry.schema import Confidence, ContractDocument

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_contracts"
SEED_FILES = sorted(SEED_DIR.glob("*.yaml"))
GOLAB_ATTRIBUTION = "Source: INDIGO Impact Bond Dataset, Government Outcomes Lab (GO Lab), University of Oxford"

EXPECTED_IDS = {
    "se-norrkoping-2016",
    "se-botkyrka-2018",
    "se-ornskoldsvik-2018",
    "se-hasselby-vallingby-2021",
    "se-region-stockholm-hib-2020",
    "se-harnosand-2024",
    "fi-koto-sib-2017",
    "fi-occupational-wellbeing-2015",
    "uk-peterborough-2010",
    "us-nyc-rikers-2012",
    "us-utah-preschool-2013",
    "in-educate-girls-2015",
    "us-chicago-cpc-2014",
    "us-massachusetts-roca-2014",
    "us-south-carolina-nfp-2016",
    "au-newpin-2013",
}


def _raw(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path.name}: top level must be a mapping"
    return data


def _doc(path: Path) -> ContractDocument:
    return ContractDocument.model_validate(_raw(path))


@pytest.fixture(scope="module")
def docs() -> dict[str, ContractDocument]:
    return {p.stem: _doc(p) for p in SEED_FILES}


def test_every_expected_contract_has_a_seed_file() -> None:
    assert {p.stem for p in SEED_FILES} == EXPECTED_IDS


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_seed_parses_validates_and_is_named_by_its_id(path: Path) -> None:
    doc = _doc(path)
    assert doc.id == path.stem
    assert doc.origin == "curated"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_every_verified_or_secondary_fact_cites_a_known_source(path: Path) -> None:
    doc = _doc(path)
    known = {s.id for s in doc.sources}
    for where, fact in doc.iter_facts():
        if fact.confidence in (Confidence.VERIFIED, Confidence.SECONDARY):
            assert fact.sources, f"{path.stem}: {where} is {fact.confidence} without a source"
        assert set(fact.sources) <= known, f"{path.stem}: {where} cites unknown sources"
        if fact.alternatives:
            assert fact.confidence == Confidence.DISPUTED


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_every_source_is_cited_or_at_least_identifiable(path: Path) -> None:
    doc = _doc(path)
    for source in doc.sources:
        # a source the reader cannot find again is no provenance at all
        assert source.title.strip(), f"{path.stem}: source {source.id} has no title"
        assert source.url or source.publisher, f"{path.stem}: source {source.id} has neither URL nor publisher"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_indigo_facts_carry_the_golab_attribution(path: Path) -> None:
    doc = _doc(path)
    indigo_sources = [s for s in doc.sources if s.id.startswith("indigo")]
    for source in indigo_sources:
        assert source.attribution == GOLAB_ATTRIBUTION, f"{path.stem}: {source.id} lacks the GO Lab attribution"
    if doc.indigo_id:
        assert indigo_sources, f"{path.stem}: has indigo_id {doc.indigo_id} but no INDIGO source entry"
        assert any(doc.indigo_id in s.title for s in indigo_sources)


def test_joint_programme_links_botkyrka_and_ornskoldsvik(docs: dict[str, ContractDocument]) -> None:
    botkyrka, ornskoldsvik = docs["se-botkyrka-2018"], docs["se-ornskoldsvik-2018"]
    assert botkyrka.programme and botkyrka.programme == ornskoldsvik.programme
    # each has its own provider (contracts.md: Aino Health in Botkyrka, Previa in Örnsköldsvik)
    assert [o.id for o in botkyrka.parties_with_role("provider") if o.id == "aino-health"]
    assert [o.id for o in ornskoldsvik.parties_with_role("provider") if o.id == "previa"]


def test_norrkoping_outcome_names_and_kinds(docs: dict[str, ContractDocument]) -> None:
    doc = docs["se-norrkoping-2016"]
    kinds = {m.id: m.kind for m in doc.outcome_metrics if m.payment_relevant}
    assert kinds == {"delivered": "binary", "savings": "continuous", "school_improved": "binary"}
    savings = next(m for m in doc.outcome_metrics if m.id == "savings")
    assert savings.unit == "SEK"


def test_norrkoping_records_the_indigo_reading_as_an_alternative(docs: dict[str, ContractDocument]) -> None:
    terms = docs["se-norrkoping-2016"].payment_terms
    assert terms is not None
    assert "diva-slutrapport" in terms.sources and terms.confidence == Confidence.VERIFIED
    indigo = [a for a in terms.alternative_readings if "indigo-0077" in a.sources]
    assert indigo and indigo[0].payments, "the INDIGO/launch-deck reading must be kept, with its rules"


def test_norrkoping_governance_and_amendment(docs: dict[str, ContractDocument]) -> None:
    doc = docs["se-norrkoping-2016"]
    assert [(g.body, g.frequency) for g in doc.governance] == [("insatsråd", "quarterly")]
    extension = [a for a in doc.amendments if a.old_value == "2 years"]
    assert extension and extension[0].new_value == "3 years"


def test_rikers_records_both_commitment_and_actual_figures(docs: dict[str, ContractDocument]) -> None:
    doc = docs["us-nyc-rikers-2012"]
    loan = next(i for i in doc.investments if i.id == "gs_loan")
    guarantee = next(i for i in doc.investments if i.id == "bloomberg_guarantee")
    assert (loan.committed.amount, loan.drawn.amount) == (9_600_000, 7_200_000)
    assert (guarantee.committed.amount, guarantee.drawn.amount) == (7_200_000, 6_000_000)
    assert doc.history is not None
    paid = [p for p in doc.history.payments if p.payer == "bloomberg-philanthropies"]
    assert [(p.amount, p.currency) for p in paid] == [(6_000_000, "USD")]
    # Responsible Investor / MDRC: Goldman lost 1.2 m = 7.2 m drawn - 6.0 m guarantee paid
    assert loan.drawn.amount - paid[0].amount == 1_200_000
    [result] = doc.history.investor_results
    assert result.capital_drawn is not None and result.repaid is not None
    assert result.capital_drawn.amount - result.repaid.amount == 1_200_000
    assert [p.amount for p in doc.history.payments if p.payer == "nyc-doc"] == [0]  # the city paid nothing


def test_region_stockholm_interim_measurements(docs: dict[str, ContractDocument]) -> None:
    doc = docs["se-region-stockholm-hib-2020"]
    assert doc.history is not None
    values = sorted(float(m.value) for m in doc.history.outcomes if m.metric == "out_of_risk_zone")
    # contracts.md: 43 % at 6 months, 51 % at 12 months, 54 % at 24 months
    assert values == [0.43, 0.51, 0.54]


def test_no_dates_are_yaml_dates() -> None:
    """Dates must be quoted: an unquoted 2016-07-01 becomes a datetime.date and fails validation later."""
    for path in SEED_FILES:
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            stripped = line.split("#", 1)[0]
            for key in ("date:", "signed:", "service_start:", "service_end:", "evaluation_end:"):
                if f" {key} " in f" {stripped.strip()} " or stripped.strip().startswith(key):
                    value = stripped.split(key, 1)[1].strip().strip(",}")
                    if value and not value.startswith("{"):
                        assert value.startswith('"'), f"{path.name}:{lineno}: quote the date ({value})"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_listed_finance_figures_are_never_unverified(path: Path) -> None:
    # capital_committed and max_outcome_payment become indexed columns shown in lists without their confidence badge,
    # so an unverified figure there would read as fact (seed review 2026-11: Peterborough's "about GBP 8 m" cap)
    doc = _doc(path)
    for name in ("capital_committed", "max_outcome_payment"):
        fact = getattr(doc.finance, name)
        if fact is not None:
            assert fact.confidence != Confidence.UNVERIFIED, f"{path.stem}: finance.{name} is unverified"


REVIEW_DATE = "2026-11-24"  # the date of the seed review; stages were checked against it


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_no_contract_is_still_delivering_after_its_recorded_service_end(path: Path) -> None:
    doc = _doc(path)
    end = doc.dates.service_end
    if end and doc.stage in ("design", "contracted", "implementation"):
        assert end > REVIEW_DATE[: len(end)], f"{path.stem}: stage {doc.stage} but service ended {end}"


def test_every_seed_records_its_realised_history(docs: dict[str, ContractDocument]) -> None:
    """What happened (or that it is unknown, and why) is recorded for every seed contract."""
    for doc in docs.values():
        assert doc.history is not None, doc.id
        history = doc.history
        assert history.outcomes or history.payments or history.investor_results or history.unknowns, doc.id
        # a figure no source settles is an unknown with a reason, never an empty or placeholder entry
        for unknown in history.unknowns:
            assert unknown.what.strip() and unknown.reason.strip(), doc.id
        for payment in history.payments:
            assert payment.currency == doc.finance.currency, doc.id


def test_contradicted_figures_are_not_recorded_as_fact(docs: dict[str, ContractDocument]) -> None:
    # contracts.md [X]: Rikers' "Bloomberg guarantee 7.2 m of 9.6 m" is the original commitment, not what was paid
    rikers = docs["us-nyc-rikers-2012"].history
    assert rikers is not None
    assert [p.amount for p in rikers.payments if p.component == "guarantee"] == [6_000_000]
    # contracts.md [?]: Norrköping's repayment to LSV is not known; no payment is recorded, the unknown is
    norrkoping = docs["se-norrkoping-2016"].history
    assert norrkoping is not None and norrkoping.payments == [] and norrkoping.investor_results == []
    assert any(u.about == "payment" for u in norrkoping.unknowns)
