"""Hostile or careless input to the formula language and to ``utfall payout``: each case is an attack or
mistake that once crashed or was silently misread, and must now be a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from registry import _formula as F
from registry.schema import ContractDocument
from registry.terms import TermsError, compile_terms
from tests.registry.factories import contract_dict
from web.cli import main


def document(amount: str) -> ContractDocument:
    data = contract_dict()
    data["payment_terms"]["payments"][0]["amount"] = amount
    return ContractDocument.model_validate(data)


def terms_error(amount: str) -> str:
    with pytest.raises(TermsError) as info:
        compile_terms(document(amount), source="contracts/x.yaml")
    [issue] = info.value.issues
    assert issue.source == "contracts/x.yaml" and issue.path == "payment_terms.payments[0].amount"
    return issue.reason


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        ("(" * 125 + "savings" + ")" * 125, "nested more than 32 levels"),
        ("-" * 2000 + "savings", "longer than 2000 characters"),
        ("-" * 300 + "savings", "nested more than 32 levels"),
        ("not " * 300 + "true", "nested more than 32 levels"),
        ("cap(" * 60 + "savings" + ", C)" * 60, "nested more than 32 levels"),
        ("[" * 150 + "1" + "]" * 150, "nested more than 32 levels"),
        (" + ".join(["savings"] * 150), "more than 100 operations deep"),
        (" + ".join(["1"] * 450), "more than 400 terms"),
        ("x" * 5000, "longer than 2000 characters"),
    ],
    ids=["parentheses", "long", "minus", "not", "calls", "lists", "chain", "terms", "name"],
)
def test_formula_size_limits_are_terms_errors_not_recursion(amount: str, fragment: str) -> None:
    assert fragment in terms_error(amount)


def test_a_formula_within_the_limits_still_compiles() -> None:
    amount = "(" * 30 + " + ".join(["savings"] * 90) + ")" * 30
    compiled = compile_terms(document(f"cap({amount}, C)"))
    assert float(compiled.evaluate({"savings": 1.0}).flows[0].amount) == 90.0


@pytest.mark.parametrize(
    "amount",
    ["C * ١٢", "savings * ١", "savings * 1٢", "savings * ¹", "savings * ١.٥", "savings * 𝟙", "savings * १२"],
)
def test_only_ascii_digits_in_numbers(amount: str) -> None:
    assert "ASCII 0-9" in terms_error(amount)
    with pytest.raises(F.FormulaSyntaxError):
        F.parse(amount)


def test_non_ascii_letters_are_a_syntax_error() -> None:
    assert "unexpected character 'é'" in terms_error("savingsé")


def write(folder: Path, data: dict) -> Path:
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def seeded(cli: CliRunner, tmp_path: Path) -> CliRunner:
    data = contract_dict()
    # uncapped, so that a large outcome overflows the payment
    data["payment_terms"]["payments"][0]["amount"] = "savings * C"
    write(tmp_path, data)
    assert cli.invoke(main, ["seed", str(tmp_path)]).exit_code == 0
    return cli


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("１２３", "ASCII digits"),
        ("١٢", "ASCII digits"),
        ("nan", "ASCII digits"),
        ("NaN", "ASCII digits"),
        ("inf", "ASCII digits"),
        ("-Infinity", "ASCII digits"),
        ("1e400", "too large"),
        ("1e305", "overflowed"),  # finite, but times C it is not
        ("1e25", "too large"),  # finite, but more than exact cents can hold
        ("0x10", "ASCII digits"),
        ("", "ASCII digits"),
    ],
)
def test_payout_outcome_values_are_one_line_errors(seeded: CliRunner, value: str, fragment: str) -> None:
    result = seeded.invoke(main, ["payout", "se-testkommun-2020", "-o", f"savings={value}"])
    assert result.exit_code == 1, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_payout_accepts_ascii_numbers(seeded: CliRunner) -> None:
    for value in ("2", "2.0", "+2", "2e0", "0.000_002e6", ".2e1"):
        result = seeded.invoke(main, ["payout", "se-testkommun-2020", "-o", f"savings={value}", "--json"])
        assert result.exit_code == 0, (value, result.output)
        assert '"amount": "10000000.00"' in result.output


def test_a_metric_given_twice_is_an_error(seeded: CliRunner) -> None:
    result = seeded.invoke(main, ["payout", "se-testkommun-2020", "-o", "savings=1", "-o", "savings=2"])
    assert result.exit_code == 1
    assert "outcome 'savings' is given more than once" in result.output


def one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("command", [["contracts", "list"], ["seed"], ["payout", "x", "-o", "a=1"], ["market"]])
def test_an_unreachable_postgresql_database_is_named_without_its_password(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # port 1 on the loopback: nothing listens there, so the connection is refused at once
    monkeypatch.setenv("DATABASE_URL", "postgresql://utfall:s3cret-pw@127.0.0.1:1/registry")
    line = one_line(cli.invoke(main, command))
    assert "cannot reach the database at postgresql+psycopg://utfall:***@127.0.0.1:1/registry" in line
    assert "s3cret-pw" not in line


def test_an_unopenable_sqlite_database_is_named(cli: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}")  # a folder, not a database file
    line = one_line(cli.invoke(main, ["contracts", "list"]))
    assert f"cannot reach the database at sqlite:///{tmp_path}" in line


def test_debug_shows_the_traceback(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://utfall:s3cret-pw@127.0.0.1:1/registry")
    result = cli.invoke(main, ["--debug", "contracts", "list"])
    assert result.exit_code == 1
    assert isinstance(result.exception, OperationalError)


def test_an_unexpected_error_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export wants a folder")
    line = one_line(cli.invoke(main, ["export", "--format", "json", "-o", str(blocker / "out" / "all.json")]))
    assert line.startswith("Error: ") and "not-a-folder" in line and "utfall --debug" in line


# --- YAML and text size -------------------------------------------------------------------------------


def billion_laughs(target: str = "value") -> str:
    """Nine levels of ten aliases: ~400 bytes that expand to 10^9 strings."""
    lines = ['lol0: &l0 "lol"']
    lines += [f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    lines.append(f"{target}: *l9")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_a_contract_file_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    data = contract_dict()
    # aimed at an untyped field (a disputed fact's alternative value), where validation would walk it all
    data["classification"]["confidence"] = "disputed"
    data["classification"]["alternatives"] = [{"value": "BOMB", "sources": ["report"]}]
    levels = ['l0: &l0 "lol"'] + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    text = yaml.safe_dump(data, sort_keys=False).replace("value: BOMB", "value: {" + ", ".join(levels) + "}")
    path = tmp_path / "se-testkommun-2020.yaml"
    path.write_text(text, encoding="utf-8")
    for command in (["validate", str(path)], ["seed", str(tmp_path)]):
        result = cli.invoke(main, command)
        assert result.exit_code == 1, result.output
        assert f"{path}: (document): line " in result.output
        assert "more than 200,000 values once aliases are expanded" in result.output
    assert cli.invoke(main, ["contracts", "list"]).output.strip() == "no contracts match"


def test_deep_nesting_and_recursive_aliases_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    for name, text in (("deep", "id: " + "[" * 5000 + "]" * 5000 + "\n"), ("loop", "id: &a [*a]\n"),
                       ("deepjson", "[" * 100_000 + "]" * 100_000)):
        path = tmp_path / (f"{name}.json" if name == "deepjson" else f"{name}.yaml")
        path.write_text(text, encoding="utf-8")
        result = cli.invoke(main, ["validate", str(path)])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert f"{path}: (document):" in result.output


def test_a_huge_contract_file_is_refused_before_it_is_read(cli: CliRunner, tmp_path: Path) -> None:
    data = contract_dict()
    data["classification"]["note"] = "x" * (3 * 1024 * 1024)
    path = tmp_path / "se-testkommun-2020.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli.invoke(main, ["seed", str(tmp_path)])
    assert result.exit_code == 1 and "more than the 2,097,152 bytes a contract file may have" in result.output
    assert cli.invoke(main, ["contracts", "list"]).output.strip() == "no contracts match"


def test_text_fields_have_length_caps(tmp_path: Path) -> None:
    from registry.loader import validate_paths

    data = contract_dict()
    data["classification"]["note"] = "x" * 20_001
    data["organisations"][0]["name"] = "n" * 501
    data["sources"][0]["title"] = "t" * 2_001
    data["identity"]["alternative_names"] = ["a" * 501]
    path = tmp_path / "se-testkommun-2020.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _docs, issues = validate_paths([path])
    found = {(i.path, i.reason) for i in issues}
    assert ("classification.note", "String should have at most 20000 characters") in found
    assert ("organisations[0].name", "String should have at most 500 characters") in found
    assert ("sources[0].title", "String should have at most 2000 characters") in found
    assert ("identity.alternative_names[0]", "String should have at most 500 characters") in found
    data = contract_dict()
    data["classification"]["note"] = "x" * 20_000  # at the cap is fine
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert validate_paths([path])[1] == []


def test_an_alias_bomb_in_a_portfolio_file_is_refused(tmp_path: Path) -> None:
    from registry.portfolio_file import PortfolioFileError, load_portfolio_file

    path = tmp_path / "portfolio.yaml"
    path.write_text(billion_laughs("name"), encoding="utf-8")
    with pytest.raises(PortfolioFileError, match="once aliases are expanded"):
        load_portfolio_file(path)
    path.write_text("name: '" + "x" * (3 * 1024 * 1024) + "'\n", encoding="utf-8")
    with pytest.raises(PortfolioFileError, match="more than the 2,097,152 bytes"):
        load_portfolio_file(path)


def test_the_yaml_loader_still_reads_anchors_within_the_limits() -> None:
    from registry.yaml_input import load_yaml

    assert load_yaml("a: &x {k: [1, 2]}\nb: *x\n") == {"a": {"k": [1, 2]}, "b": {"k": [1, 2]}}
    assert load_yaml("when: 2024-01-31\n")["when"].isoformat() == "2024-01-31"
    with pytest.raises(ValueError, match="not valid YAML"):
        load_yaml("!!python/object/apply:os.system ['true']")


@pytest.mark.parametrize("amount", ["1e400", "-1e16", "1000000000000001"])
def test_stated_numbers_beyond_any_real_amount_are_refused_with_their_field(tmp_path: Path, amount: str) -> None:
    from registry.loader import validate_paths

    data = contract_dict()
    data["finance"]["capital_committed"]["amount"] = amount
    data["investments"][0]["committed"]["amount"] = amount
    path = tmp_path / "se-testkommun-2020.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _docs, issues = validate_paths([path])
    paths = {i.path for i in issues}
    assert {"finance.capital_committed.amount", "investments[0].committed.amount"} <= paths
    reasons = [i.reason for i in issues if i.path.endswith("amount")]
    assert all("larger in magnitude than 1,000,000,000,000,000" in reason for reason in reasons)


def test_the_largest_stated_number_is_accepted(tmp_path: Path) -> None:
    from registry.loader import validate_paths

    data = contract_dict()
    data["finance"]["capital_committed"]["amount"] = "1000000000000000"
    path = tmp_path / "se-testkommun-2020.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert validate_paths([path])[1] == []
