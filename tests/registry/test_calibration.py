"""Priors calibrated on recorded results of comparable contracts, and the calibration report."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner

from portfolio.outcomes import Bernoulli
from portfolio.priors import default_model, sector_prior
from registry.calibration import (
    PSEUDO_COUNT,
    CalibratedPriors,
    OutcomeRecord,
    RepaymentRecord,
    calibration_report,
    outcome_records,
    repayment_record,
)
from registry.loader import document_json, parse_document
from registry.portfolio_file import contract_model
from registry.terms import compile_terms
from tests.registry.factories import contract_dict
from tests.web.conftest import seeded  # noqa: F401 - the seed contracts in the test database
from web.cli import main


def _doc(**history: Any) -> dict[str, Any]:
    data = contract_dict()
    data["outcome_metrics"][0]["targets"] = [{"value": "5000000"}, {"value": "3000000"}]
    data["history"] = history
    return document_json(parse_document(data, "test"))


def _value(value: str, **extra: Any) -> dict[str, Any]:
    return {"metric": "savings", "date": "2023-12", "value": value, "confidence": "unverified", **extra}


def test_outcome_records_compare_with_the_first_target() -> None:
    doc = _doc(outcomes=[_value("3000000"), _value("2999999"), _value("1000000", bound="min"),
                         _value("2000000", bound="max"), _value("4000000", bound="max")])
    records = outcome_records(doc)
    # the lowest target (3 m) is reached at 3 m, missed below; a minimum of 1 m settles nothing
    assert [r.achieved for r in records] == [True, False, False]
    assert {(r.sector, r.kind, r.country, r.when) for r in records} == {
        ("child_and_family_welfare", "continuous", "SE", date(2023, 12, 1))}


def test_repayment_record_from_investor_results_stated_text_or_irr() -> None:
    data = _doc(investor_results=[{"investor": "investor-ab", "capital_drawn": {"amount": "5000000"},
                                   "repaid": {"amount": "4000000"}, "confidence": "unverified"}])
    assert repayment_record(data) is None  # still in implementation
    data["stage"] = "complete"
    record = repayment_record(data)
    assert record is not None and (record.full, record.basis) == (False, "investor_results")
    data.pop("history")
    assert repayment_record(data) is None
    data["finance"]["investor_repayment"] = "Repaid in full with interest"
    assert (repayment_record(data).full, repayment_record(data).basis) == (True, "stated")  # type: ignore[union-attr]
    data["finance"].pop("investor_repayment")
    data["finance"]["realised_irr"] = {"value": "-0.02", "confidence": "unverified"}
    assert (repayment_record(data).full, repayment_record(data).basis) == (False, "realised_irr")  # type: ignore[union-attr]


def _records(sector: str, kind: str, country: str, hits: int, misses: int, when: date = date(2015, 1, 1),
             prefix: str = "c") -> list[OutcomeRecord]:
    return [OutcomeRecord(f"{prefix}{i}", sector, kind, country, when, i < hits) for i in range(hits + misses)]


def test_metric_prior_uses_the_most_specific_level_with_enough_evidence() -> None:
    priors = CalibratedPriors(
        _outcomes=_records("health", "rate", "SE", 2, 1) + _records("health", "rate", "GB", 0, 5, prefix="g"))
    p0 = sector_prior("health").p_success
    swedish = priors.metric("health", "rate", "SE")
    assert swedish is not None and (swedish.successes, swedish.n) == (2, 3)
    assert swedish.p == pytest.approx((2 + PSEUDO_COUNT * p0) / (3 + PSEUDO_COUNT))
    assert "country SE" in swedish.level
    # Finland has no evidence of its own: the sector and kind across countries (2 of 8)
    finnish = priors.metric("health", "rate", "FI")
    assert finnish is not None and (finnish.successes, finnish.n, finnish.level) == (2, 8, "sector health, kind rate")
    assert "from 2 of 8 recorded results" in finnish.label("x reaches its target")
    assert priors.metric("education", "rate", "SE") is None


def test_metric_prior_uses_only_earlier_evidence_and_never_the_contract_itself() -> None:
    priors = CalibratedPriors(_outcomes=_records("health", "rate", "SE", 3, 0, when=date(2020, 1, 1))
                              + _records("health", "rate", "SE", 0, 3, when=date(2010, 1, 1), prefix="old"))
    before = priors.metric("health", "rate", "SE", before=date(2015, 1, 1))
    assert before is not None and (before.successes, before.n) == (0, 3)
    mine = priors.metric("health", "rate", "SE", exclude="c0")
    assert mine is not None and mine.n == 5


def test_default_model_takes_a_calibrated_probability() -> None:
    model = default_model("health", "binary", p_success=0.42, label="calibrated")
    assert isinstance(model, Bernoulli) and model.p == 0.42 and model.label == "calibrated"
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        default_model("health", "binary", p_success=1.0)


def test_contract_model_states_the_calibrated_assumption() -> None:
    doc = parse_document(contract_dict(), "test")
    terms = compile_terms(doc)
    sector, country = "child_and_family_welfare", "SE"
    priors = CalibratedPriors(_outcomes=_records(sector, "continuous", country, 1, 3),
                              _repayments=[RepaymentRecord("x", sector, country, None, date(2019, 1, 1), True,
                                                           "stated")])
    model = contract_model(doc, terms, priors=priors)
    [name] = model.default_prior
    assert "calibrated prior" in model.outcomes[name].label and "from 1 of 4 recorded results" in \
        model.outcomes[name].label
    plain = contract_model(doc, terms)
    assert "calibrated" not in plain.outcomes[name].label


def test_calibration_report_over_the_seeds(session, seeded) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    report = calibration_report(session=session, scenarios=500)
    by_id = {p.contract: p for p in report.predictions}
    # Rikers: 6.0 m back on 7.2 m drawn; Educate Girls: 414,085 on 270,000; Peterborough: "in full" (stated)
    assert by_id["us-nyc-rikers-2012"].realised is False
    assert by_id["in-educate-girls-2015"].realised is True
    assert by_id["uk-peterborough-2010"].realised is True
    assert by_id["uk-peterborough-2010"].basis == "stated"
    assert all(0.0 <= p.predicted <= 1.0 for p in report.predictions)
    buckets = report.buckets()
    assert sum(b["contracts"] for b in buckets) == len(report.predictions)
    for b in buckets:
        inside = [p for p in report.predictions if b["bucket"][0] <= p.predicted < b["bucket"][1]
                  or (b["bucket"][1] == 1.0 and p.predicted == 1.0)]
        if inside:
            assert b["realised_rate"] == sum(p.realised for p in inside) / len(inside)
    brier = report.brier()
    assert brier is not None and brier == pytest.approx(
        sum((p.predicted - p.realised) ** 2 for p in report.predictions) / len(report.predictions))


def test_cli_calibration(cli: CliRunner, seeded) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    result = cli.invoke(main, ["backtest", "--calibration", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["contracts"] == len(data["predictions"]) >= 3
    assert [b["bucket"] for b in data["buckets"]][0] == [0.0, 0.5]
    text = cli.invoke(main, ["backtest", "--calibration"])
    assert "Predicted probability of full repayment at signing" in text.output and "Brier score" in text.output
