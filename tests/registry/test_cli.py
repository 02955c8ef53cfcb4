"""The ``utfall`` registry commands against the test database."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from tests.registry.factories import contract_dict
from web.cli import main


def write(folder: Path, data: dict) -> Path:
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_seed_list_show_payout(cli: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, contract_dict())
    result = cli.invoke(main, ["seed", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 0 unchanged" in result.output
    result = cli.invoke(main, ["seed", str(tmp_path)])
    assert "0 created, 0 updated, 1 unchanged" in result.output

    result = cli.invoke(main, ["contracts", "list", "--json"])
    listing = json.loads(result.output)
    assert listing["total"] == 1 and listing["contracts"][0]["id"] == "se-testkommun-2020"
    result = cli.invoke(main, ["contracts", "list", "--country", "US"])
    assert "no contracts match" in result.output

    result = cli.invoke(main, ["contracts", "show", "se-testkommun-2020"])
    assert result.exit_code == 0 and "Test municipality outcomes contract" in result.output
    assert "outcome_payer, provider" in result.output

    result = cli.invoke(main, ["payout", "se-testkommun-2020", "--outcome", "savings=7_000_000", "--json"])
    assert result.exit_code == 0, result.output
    payout = json.loads(result.output)
    assert payout["contract"] == "se-testkommun-2020" and payout["currency"] == "SEK"
    [payment] = payout["payments"]
    assert (payment["component"], payment["payer"], payment["payee"]) == ("outcome", "testkommun", "investor-ab")
    assert float(payment["amount"]) == 5_000_000  # capped at C
    assert float(payout["investor_capital"]) == 5_000_000
    assert float(payout["multiple"]) == 1.0


def test_payout_errors(cli: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, contract_dict())
    cli.invoke(main, ["seed", str(tmp_path)])
    result = cli.invoke(main, ["payout", "no-such-contract", "-o", "savings=1"])
    assert result.exit_code == 1 and "no contract with id 'no-such-contract'" in result.output
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "saving=1"])
    assert result.exit_code == 1 and "has no outcome 'saving'" in result.output and "savings" in result.output
    result = cli.invoke(main, ["payout", "se-testkommun-2020"])
    assert result.exit_code == 1 and "missing outcome(s)" in result.output
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings=lots"])
    assert result.exit_code == 1 and "needs a number" in result.output


def test_validate_exit_status(cli: CliRunner, tmp_path: Path) -> None:
    good = write(tmp_path, contract_dict())
    assert cli.invoke(main, ["validate", str(good)]).exit_code == 0
    bad_data = contract_dict(id="se-bad-2020")
    bad_data["finance"]["currency"] = "kronor"
    bad = write(tmp_path, bad_data)
    result = cli.invoke(main, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: finance.currency:" in result.output


def test_seed_with_a_bad_file_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, contract_dict())
    bad_data = contract_dict(id="se-bad-2020")
    bad_data["payment_terms"]["payments"][0]["amount"] = "if(savings, 1, 0)"  # savings is a number
    write(tmp_path, bad_data)
    result = cli.invoke(main, ["seed", str(tmp_path)])
    assert result.exit_code == 1
    assert "payment_terms.payments[0].amount" in result.output
    listing = json.loads(cli.invoke(main, ["contracts", "list", "--json"]).output)
    assert listing["total"] == 0


def test_payout_of_an_alternative_reading(cli: CliRunner, tmp_path: Path) -> None:
    data = contract_dict()
    data["payment_terms"]["alternative_readings"] = [
        {"description": "Drawn-capital basis", "sources": ["report"], "parameters": {"C": "3000000"}}]
    write(tmp_path, data)
    cli.invoke(main, ["seed", str(tmp_path)])
    show = cli.invoke(main, ["contracts", "show", "se-testkommun-2020"])
    assert "alternative reading 1 (utfall payout --reading 1): Drawn-capital basis" in show.output
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings=7e6", "--reading", "1", "--json"])
    assert result.exit_code == 0, result.output
    payout = json.loads(result.output)
    assert payout["reading"] == 1 and float(payout["investor_repayment"]) == 3_000_000
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings=7e6", "--reading", "2"])
    assert result.exit_code == 1 and "there is no reading 2" in result.output


def test_payout_per_period_outcomes(cli: CliRunner, tmp_path: Path) -> None:
    data = contract_dict()
    data["outcome_metrics"][0]["kind"] = "rate"
    data["payment_terms"]["schedules"] = {"year": {"metrics": ["savings"], "periods": [
        {"label": "2021", "date": "2021-08-31"}, {"label": "2022", "date": "2022-08-31"}]}}
    data["payment_terms"]["payments"][0].update(per="year", amount="savings * 1000")
    del data["payment_terms"]["payments"][0]["timing"]
    write(tmp_path, data)
    cli.invoke(main, ["seed", str(tmp_path)])
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings[2021]=0.5", "-o", "savings[2022]=2",
                               "--json"])
    assert result.exit_code == 0, result.output
    payout = json.loads(result.output)
    assert [(p["id"], p["date"], p["amount"]) for p in payout["payments"]] == [
        ("repayment[2021]", "2021-08-31", "500.00"), ("repayment[2022]", "2022-08-31", "2000.00")]
    assert payout["outcomes"] == {"savings[2021]": 0.5, "savings[2022]": 2.0}
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings[2023]=1"])
    assert result.exit_code == 1 and "has no period '2023'; its periods are: 2021, 2022" in result.output
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings[2021]=1"])
    assert result.exit_code == 1 and "missing period(s) 2022" in result.output
    result = cli.invoke(main, ["payout", "se-testkommun-2020"])
    assert result.exit_code == 1 and "savings[2021], savings[2022]" in result.output


def test_payout_accepts_every_outcome_of_the_contract_and_says_when_investors_hold_no_position(
        cli: CliRunner, tmp_path: Path) -> None:
    # Region Stockholm's HbA1c metric is recorded but not read by its terms: it is still an outcome of the contract
    data = contract_dict()
    data["outcome_metrics"].append({"id": "out_of_risk_zone", "name": {"en": "HbA1c below the risk zone"},
                                    "kind": "rate", "sources": ["report"], "confidence": "verified"})
    data["payment_terms"]["payments"][0]["payee"] = "testkommun"  # paid to a non-investor: no position
    write(tmp_path, data)
    cli.invoke(main, ["seed", str(tmp_path)])
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings=1000", "-o", "out_of_risk_zone=0.54",
                               "--json"])
    assert result.exit_code == 0, result.output
    payout = json.loads(result.output)
    assert payout["outcomes"] == {"savings": 1000.0, "out_of_risk_zone": 0.54}
    assert payout["multiple"] is None and payout["irr"] is None
    assert payout["no_position"].startswith("no payment in these terms reaches an investor")
    result = cli.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings=1000"])
    assert "no position: no payment in these terms reaches an investor (they go to testkommun)" in result.output
    assert "multiple" not in result.output
