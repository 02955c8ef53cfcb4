"""Draft a contract from outcome prices: the document (a contract file `utfall validate` accepts), the
one-contract simulation, and the page with its defaults, errors and download."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from flask.testing import FlaskClient

from registry.draft import DraftTerms, check_terms, draft_document, draft_yaml, simulate_draft
from registry.loader import parse_document
from registry.outcome_categories import category_by_id
from tests.web.test_outcome_prices import precedents  # noqa: F401 - the fixture
from web.cli import main


def terms(**changes: object) -> DraftTerms:
    values: dict[str, object] = {
        "category": category_by_id("employment"), "currency": "SEK", "price": Decimal(60000),
        "cap": Decimal(3_000_000), "target": 40, "cohort": 100, "capital": Decimal(2_000_000), "term_years": 3,
        "start": date(2027, 1, 1)}
    values.update(changes)
    return DraftTerms(**values)  # type: ignore[arg-type]


def test_the_draft_is_a_contract_file_utfall_validate_accepts(cli: CliRunner, tmp_path: Path) -> None:
    doc = draft_document(terms())
    path = tmp_path / f"{doc['id']}.yaml"
    path.write_text(draft_yaml(doc), encoding="utf-8")
    result = cli.invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    parsed = parse_document(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    assert parsed.classification.policy_sector == "employment_and_training" and parsed.stage == "design"
    params = parsed.payment_terms.parameters
    assert (params["price"].value, params["cap"].value, params["C"].value) == (60000, 3_000_000, 2_000_000)
    assert parsed.outcome_metrics[0].targets[0].value == 40 and parsed.target_population.targeted_participants == 100


def test_unusable_values_are_named() -> None:
    assert check_terms(terms()) == []
    assert check_terms(terms(price=Decimal(0), target=101, term_years=20)) == [
        ("price", "positive"), ("target", "target"), ("term_years", "term")]
    with pytest.raises(ValueError, match="cap: must be more than zero"):
        draft_document(terms(cap=Decimal(-1)))


def test_simulation() -> None:
    low, high = (simulate_draft(draft_document(terms(price=Decimal(p)))) for p in (30000, 90000))
    assert low.expected_multiple < high.expected_multiple and low.p_loss > high.p_loss
    for result in (low, high):
        values = list(result.payer_percentiles.values())
        assert values == sorted(values) and 0 <= values[0] and values[-1] <= result.payer_max == 3_000_000
        assert result.irr_median is not None and result.assumptions
    # At 90,000 a person the target (40) pays 3.6 m, more than the cap: most scenarios pay the whole cap
    assert high.payer_percentiles[50] == 3_000_000
    # The expected multiple is what the payer pays on average over the capital (one rule pays the investor)
    assert high.expected_multiple == pytest.approx(high.payer_mean / 2_000_000)
    assert simulate_draft(draft_document(terms(price=Decimal(90000)))) == high  # seeded


def test_page_starts_from_the_median_or_a_precedent(client: FlaskClient, precedents: list[str]) -> None:  # noqa: F811
    sv = client.get("/outcome-prices/draft?category=employment&currency=orig&lang=sv").get_data(as_text=True)
    assert "<h1>Gör ett utkast till kontrakt</h1>" in sv and "Förväntad multipel" in sv
    assert "Utgångspris: medianen av" in sv and 'data-multiple="' in sv
    price = re.search(r'id="price" name="price" inputmode="decimal" value="(\d+)"', sv)
    assert price is not None and int(price.group(1)) > 0
    en = client.get("/outcome-prices/draft?category=employment&currency=EUR&from=nl-f&metric=jobs&lang=en")
    page = en.get_data(as_text=True)
    assert "Starting price: The Exempelstad test contract, Entry into employment, converted to EUR." in page
    assert 'name="price" inputmode="decimal" value="' in page and 'name="from" value="nl-f"' in page


def test_page_names_bad_values_in_swedish(client: FlaskClient, precedents: list[str]) -> None:  # noqa: F811
    page = client.get("/outcome-prices/draft?price=abc&cohort=10&target=11&term=2.5&lang=sv").get_data(as_text=True)
    assert 'id="price-error">Ange ett tal.' in page and 'aria-invalid="true"' in page
    assert 'id="term-error">Löptiden ska vara ett helt antal år mellan 1 och 15.' in page
    assert "Förväntad multipel" not in page  # nothing simulated
    page = client.get("/outcome-prices/draft?price=1000&cohort=10&target=11&lang=sv").get_data(as_text=True)
    assert 'id="target-error">Målet ska vara ett heltal mellan ett och målgruppens storlek.' in page
    bad = client.get("/outcome-prices/draft.yaml?price=-5&lang=en")
    assert bad.status_code == 422 and "price: Enter an amount more than zero." in bad.get_data(as_text=True)


def test_download_validates(client: FlaskClient, precedents: list[str], cli: CliRunner,  # noqa: F811
                            tmp_path: Path) -> None:
    response = client.get("/outcome-prices/draft.yaml?category=reoffending&currency=GBP&price=20000&cohort=200"
                          "&target=50&cap=1200000&capital=800000&term=4")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    name = response.headers["Content-Disposition"].split("filename=")[1]
    assert name == f"draft-reoffending-{date.today().year + 1}.yaml"  # utfall validate wants the id as file name
    path = tmp_path / name
    path.write_bytes(response.data)
    result = cli.invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(response.data)
    assert doc["finance"]["currency"] == "GBP" and doc["classification"]["policy_sector"] == "criminal_justice"
    assert doc["payment_terms"]["payments"][0]["amount"] == "cap(price * outcomes, cap)"
    assert doc["payment_terms"]["payments"][0]["timing"] == {"months_after_start": 48}
