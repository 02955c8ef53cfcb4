"""``utfall simulate`` and ``utfall stress``: run a portfolio file against the registry."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from registry import db
from registry.plain_text import amount_text, percent_text
from registry.services.contracts import get_contract

if TYPE_CHECKING:
    import pandas as pd

    from portfolio import Portfolio, SimulationResult

__all__ = ["simulate", "stress"]

_PERCENT = {"expected_multiple", "irr_mean", "irr_p5", "irr_p50", "irr_p95", "p_loss"}


def _load(path: Path) -> Portfolio:
    # lazy: the engine (numpy, scipy, pandas) loads only when a portfolio is run, not for every ``utfall`` command
    from registry.calibration import CalibratedPriors
    from registry.portfolio_file import PortfolioFileError, build_portfolio, load_portfolio_file
    from registry.reference_rates import load_rate_table

    try:
        spec = load_portfolio_file(path)
        with db.session_scope() as session:
            return build_portfolio(spec, source=str(path),
                                   get_contract=lambda cid: get_contract(session=session, contract_id=cid),
                                   priors=CalibratedPriors.from_session(session),
                                   rates=load_rate_table(session=session))
    except PortfolioFileError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A tqdm bar on stderr when it is a terminal (never in --json pipelines or logs)."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from tqdm import tqdm  # lazy: only a command that shows a progress bar loads it

    with tqdm(total=total, unit="scen", unit_scale=True, file=sys.stderr, leave=False) as bar:
        yield bar.update


def _summary_value(metric: str, value: float) -> str:
    """A summary estimate as the commands print it: shares as percentages, the multiple to four decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if metric == "expected_multiple":
        return amount_text(value, digits=4)
    return percent_text(value) if metric in _PERCENT else amount_text(value, digits=0)


def _print_summary(result: SimulationResult) -> None:
    s = result.settings
    click.echo(f"{s['name'] or 'portfolio'}: {s['scenarios']:,} scenarios, seed {s['seed']}, "
               f"{s['copula']} copula" + (f" (df {s['df']:g})" if s["df"] else "")
               + f", amounts in {s['base_currency']}")
    click.echo("")
    width = max(len(v) for v in result.summary["label"])
    for metric, row in result.summary.iterrows():
        se = "" if row.std_error == 0 else f"  ± {_summary_value(str(metric), row.std_error)}"
        click.echo(f"  {row.label:<{width}}  {_summary_value(str(metric), row.estimate):>16}{se}")
    if s.get("irr_undefined_scenarios"):
        click.echo(f"  (IRR undefined in {s['irr_undefined_scenarios']} scenarios, left out of the IRR figures)")


def _table(df: pd.DataFrame, columns: dict[str, str], money: set[str]) -> None:
    import pandas as pd  # lazy import for start-up time (see _load)

    out = df[list(columns)].copy()
    for c in out.columns:
        if c in money:
            out[c] = out[c].map(lambda v: "n/a" if pd.isna(v) else f"{v:,.0f}")
        elif out[c].dtype.kind == "f":
            out[c] = out[c].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    out.columns = list(columns.values())
    click.echo(out.to_string())


def _print_result(result: SimulationResult) -> None:
    _print_summary(result)
    click.echo("\nContracts (ES contributions add up to the portfolio ES):")
    _table(result.contracts, {"capital": "capital", "expected_repayment": "E[repayment]",
                              "expected_loss": "E[loss]", "p_loss": "P(loss)", "es99_contribution": "ES99 contrib",
                              "es99_share": "ES99 share", "default_prior": "default prior"},
           {"capital", "expected_repayment", "expected_loss", "es99_contribution"})
    click.echo("\nPayers and guarantors (at 100 % of each contract):")
    _table(result.exposures, {"max_contractual_exposure": "max exposure", "expected_payment": "E[payment]",
                              "p99_payment": "99th pct payment", "p_pays": "P(pays)"},
           {"max_contractual_exposure", "expected_payment", "p99_payment"})
    click.echo("\nConcentration (HHI of capital shares; effective number = 1/HHI):")
    _table(result.hhi, {"hhi_capital": "HHI capital", "effective_number": "effective n", "hhi_es99": "HHI ES99"},
           set())
    unpaid = result.settings.get("holdings_without_investor_flows") or []
    if unpaid:
        click.echo("\nNo investor position in the payment terms (no flow reaches the named investors; left out "
                   "of capital and losses, not counted as a total loss): " + ", ".join(unpaid))
    defaults = result.contracts[result.contracts["default_prior"]]
    if len(defaults):
        click.echo("\nDefault priors used (no outcome model in the portfolio file): "
                   + "; ".join(f"{i}: {m}" for i, m in defaults["default_prior_metrics"].items()))


@click.command("simulate")
@click.argument("portfolio_file", metavar="PORTFOLIO", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scenarios", type=click.IntRange(min=100), help="Number of scenarios (default: the file's).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (default: the file's).")
@click.option("--threads", type=click.IntRange(min=1), help="Worker threads (default: CPUs; results unchanged).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--cluster", metavar="ADDRESS", envvar="UTFALL_DASK_SCHEDULER",
              help="Run on this Dask scheduler (tcp://host:8786; default $UTFALL_DASK_SCHEDULER). Needs the "
                   "extra utfall[distributed]; results are the same as in-process.")
def simulate(portfolio_file: Path, scenarios: int | None, seed: int | None, threads: int | None,
             as_json: bool, cluster: str | None) -> None:
    """Simulate a portfolio file: returns, losses, ES contributions, payer exposure, concentration."""
    from portfolio import simulate as simulate_portfolio  # lazy import for start-up time (see _load)

    portfolio = _load(portfolio_file)
    n = scenarios or portfolio.n_scenarios
    if cluster:
        from portfolio.cluster import cluster_available  # lazy: the engine (see _load)

        if not cluster_available():
            raise click.ClickException("--cluster needs the optional extra: pip install 'utfall[distributed]'")
    with _progress(n, True) as progress:
        try:
            result = simulate_portfolio(portfolio, n_scenarios=n, seed=seed, threads=threads, progress=progress,
                                        cluster=cluster or None)
        except OSError as exc:  # no scheduler at that address
            raise click.ClickException(f"--cluster {cluster}: {exc}") from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_result(result)


@click.command("stress")
@click.argument("portfolio_file", metavar="PORTFOLIO", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scenarios", type=click.IntRange(min=100), help="Number of scenarios (default: the file's).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (default: the file's).")
@click.option("--sector", help="Sector to shock (default: the one with the most capital).")
@click.option("--payer", help="Outcome payer that terminates (default: the one with the most capital).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def stress(portfolio_file: Path, scenarios: int | None, seed: int | None, sector: str | None, payer: str | None,
           as_json: bool) -> None:
    """Named stress scenarios side by side with the base case (same random numbers)."""
    import pandas as pd  # lazy imports for start-up time (see _load)

    from portfolio.results import SUMMARY_LABELS
    from portfolio.stresses import default_stresses, run_stresses

    portfolio = _load(portfolio_file)
    n = scenarios or portfolio.n_scenarios
    stresses = default_stresses(portfolio, sector=sector, payer=payer)
    with _progress(n * (len(stresses) + 1), True) as progress:
        res = run_stresses(portfolio, stresses, n_scenarios=n, seed=seed, progress=progress)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{portfolio.name or 'portfolio'}: {n:,} scenarios per column, amounts in {portfolio.base_currency}\n")
    for name, desc in res.descriptions.items():
        click.echo(f"  {name}: {desc}")
    click.echo("")
    table: dict[str, Any] = {}
    for name in res.table.columns:
        table[name] = [_summary_value(str(m), v) for m, v in res.table[name].items()]
    out = pd.DataFrame(table, index=[SUMMARY_LABELS[m] for m in res.table.index])
    click.echo(out.to_string())

