"""Payouts of the seed contracts at the boundaries the sources give.

Every expected number cites where it comes from: ``contracts.md`` and ``portfolio-engine.md`` §3.1 are the
curators' research notes (docs/seed-review.md describes them; the original sources are named in the seed files'
``sources`` entries), or the seed files' own ``sources`` entries.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry.schema import ContractDocument
from registry.terms import Payout, compile_terms

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_contracts"
SEED_FILES = sorted(SEED_DIR.glob("*.yaml"))


def _doc(contract_id: str) -> ContractDocument:
    path = SEED_DIR / f"{contract_id}.yaml"
    return ContractDocument.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _payout(doc: ContractDocument, reading: int | None = None, **outcomes: Any) -> Payout:
    return compile_terms(doc, source=f"seed_contracts/{doc.id}.yaml", reading=reading).payout(outcomes)


def _reading(doc: ContractDocument, recorded: Any) -> int:
    """The number (from 1) of an alternative reading, for ``compile_terms(reading=...)``."""
    assert doc.payment_terms is not None
    return doc.payment_terms.alternative_readings.index(recorded) + 1


def _pay(contract_id: str, **outcomes: Any) -> Payout:
    return _payout(_doc(contract_id), **outcomes)


def _by_id(payout: Payout) -> dict[str, Decimal]:
    return {p.id: p.amount for p in payout.payments}


def _waterfall_by_payee(payout: Payout) -> dict[str, Decimal]:
    """What the waterfall distributes to each investor."""
    totals: dict[str, Decimal] = {}
    for p in payout.payments:
        if "waterfall" in p.tags:
            totals[p.payee] = totals.get(p.payee, Decimal(0)) + p.amount
    return totals


def _with_parameters(doc: ContractDocument, **values: int | str) -> ContractDocument:
    """The same contract with some parameters set to other (sourced) values, e.g. drawn instead of committed."""
    data = doc.model_dump(mode="json", by_alias=True)
    for name, value in values.items():
        data["payment_terms"]["parameters"][name]["value"] = str(value)
    return ContractDocument.model_validate(data)


M = Decimal(1_000_000)


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_every_seed_compiles(path: Path) -> None:
    doc = ContractDocument.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    compiled = compile_terms(doc, source=str(path))
    assert set(compiled.outcome_names) <= {m.id for m in doc.outcome_metrics}


# --- Norrköping ------------------------------------------------------------------------------------
# C = SEK 10 m: the investment as the seeds set it (launch presentation "totalt 10 miljoner kronor"; LSV interim
# report "LSV fonderar 10 miljoner kronor"; contracts.md: up to 10 MSEK [V] nt.se, Altinget, DiVA).

NORRKOPING = "se-norrkoping-2016"


def test_norrkoping_not_delivered_no_savings_pays_nothing() -> None:
    payout = _pay(NORRKOPING, delivered=False, savings=0, school_improved=False)
    assert payout.investor_repayment == 0


def test_norrkoping_delivered_without_savings_pays_the_40_percent_guarantee() -> None:
    # DiVA abstract [V]: "Norrköping guarantees 40 % repayment on activity" -> 0.4 x 10 m
    payout = _pay(NORRKOPING, delivered=True, savings=0, school_improved=False)
    assert _by_id(payout) == {"activity_guarantee": 4 * M, "savings_share": 0, "premium": 0}
    assert payout.investor_repayment == 4 * M


def test_norrkoping_savings_below_break_even_are_split_60_40() -> None:
    # DiVA [V]: each SEK saved is divided 60/40 up to break-even -> 4 m guarantee + 0.6 x 5 m
    payout = _pay(NORRKOPING, delivered=True, savings=5 * M, school_improved=False)
    assert _by_id(payout)["savings_share"] == 3 * M
    assert payout.investor_repayment == 7 * M


def test_norrkoping_break_even_repays_the_capital() -> None:
    # DiVA [V]: savings equal to project cost = break-even: 0.4 C + 0.6 C = C = 10 m
    payout = _pay(NORRKOPING, delivered=True, savings=10 * M, school_improved=True)
    assert payout.investor_repayment == 10 * M
    assert _by_id(payout)["premium"] == 0


def test_norrkoping_premium_capped_at_20_percent_only_with_improved_schools() -> None:
    # DiVA [V]: ROI capped at 20 % conditional on school outcomes; INDIGO [S]: cap SEK 2 m, max payment SEK 12 m
    high = _pay(NORRKOPING, delivered=True, savings=50 * M, school_improved=True)
    assert _by_id(high)["premium"] == 2 * M
    assert high.investor_repayment == 12 * M
    no_school = _pay(NORRKOPING, delivered=True, savings=50 * M, school_improved=False)
    assert _by_id(no_school)["premium"] == 0
    assert no_school.investor_repayment == 10 * M
    # a premium of savings above C, not 20 % regardless: 1 m above break-even pays 1 m (LSV: "förutsatt att
    # kommunens besparingar når dit")
    small = _pay(NORRKOPING, delivered=True, savings=11 * M, school_improved=True)
    assert _by_id(small)["premium"] == 1 * M


def test_norrkoping_on_drawn_capital_the_guarantee_is_3_million() -> None:
    # socialeinvesteringer.nu [S]: SEK 7.5 m invested; 40 % of "det investerade beloppet" (launch presentation)
    doc = _with_parameters(_doc(NORRKOPING), C=7_500_000)
    assert _payout(doc, delivered=True, savings=0, school_improved=False).investor_repayment == 3 * M
    assert _by_id(_payout(doc, delivered=True, savings=50 * M, school_improved=True))["premium"] == Decimal(1_500_000)


def test_norrkoping_indigo_reading_differs_below_break_even_only() -> None:
    # INDIGO [S] / launch presentation: repaid amount equals the savings up to 10 m (guarantee as a floor)
    doc = _doc(NORRKOPING)
    assert doc.payment_terms is not None
    n = _reading(doc, next(a for a in doc.payment_terms.alternative_readings if "indigo-0077" in a.sources))
    assert _payout(doc, n, delivered=True, savings=5 * M, school_improved=False).investor_repayment == 5 * M
    assert _payout(doc, n, delivered=True, savings=2 * M, school_improved=False).investor_repayment == 4 * M
    assert _payout(doc, n, delivered=True, savings=10 * M, school_improved=False).investor_repayment == 10 * M
    assert _payout(doc, n, delivered=True, savings=50 * M, school_improved=True).investor_repayment == 12 * M


def test_norrkoping_drawn_capital_reading_is_recorded_and_evaluable() -> None:
    # socialeinvesteringer.nu [S]: SEK 7.5 m invested; the reading sets C to it
    doc = _doc(NORRKOPING)
    assert doc.payment_terms is not None
    n = _reading(doc, next(a for a in doc.payment_terms.alternative_readings if a.parameters))
    assert _payout(doc, n, delivered=True, savings=0, school_improved=False).investor_repayment == 3 * M
    assert _payout(doc, n, delivered=True, savings=50 * M, school_improved=True).investor_repayment == 9 * M


# --- NYC Rikers (ABLE) -----------------------------------------------------------------------------

RIKERS = "us-nyc-rikers-2012"


def test_rikers_no_reduction_the_guarantor_covers_first_as_contracted() -> None:
    # Gothamist/NYT [V]: 9.6 m loan, Bloomberg guarantee 7.2 m, Goldman loses up to 2.4 m below 10 %
    payout = _pay(RIKERS, reduction=0.0)
    ids = _by_id(payout)
    assert ids["success_payment"] == 0
    guarantee = next(p for p in payout.payments if p.payer == "bloomberg-philanthropies")
    assert (guarantee.payee, guarantee.amount) == ("goldman-sachs", Decimal(7_200_000))
    assert payout.investor_capital - payout.investor_repayment == Decimal(2_400_000)


def test_rikers_as_it_happened_bloomberg_paid_6_million_and_goldman_lost_1_2() -> None:
    # Responsible Investor / MDRC / Philanthropy NY [V]: 7.2 m drawn, city paid nothing, Bloomberg 6.0 m, GS lost 1.2 m.
    # The recorded "as it happened" reading carries those parameters, so --reading 1 evaluates them.
    doc = _doc(RIKERS)
    assert doc.payment_terms is not None
    n = _reading(doc, next(a for a in doc.payment_terms.alternative_readings if a.description.startswith("As it")))
    payout = _payout(doc, n, reduction=0.0)
    assert payout.reading == n
    guarantee = next(p for p in payout.payments if p.payer == "bloomberg-philanthropies")
    assert guarantee.amount == Decimal(6_000_000)
    assert payout.investor_capital == Decimal(7_200_000)
    assert payout.investor_repayment == Decimal(6_000_000)
    assert payout.investor_capital - payout.investor_repayment == Decimal(1_200_000)


def test_rikers_ten_percent_is_break_even_on_the_full_commitment() -> None:
    # Gothamist/NYT [V]: >= 10 % reduction = break-even, GS repaid 9.6 m; no guarantee needed
    payout = _pay(RIKERS, reduction=0.10)
    assert _by_id(payout)["success_payment"] == Decimal(9_600_000)
    assert payout.investor_repayment == Decimal(9_600_000)
    assert all(p.amount == 0 for p in payout.payments if p.payer == "bloomberg-philanthropies")


def test_rikers_top_tier_pays_the_indigo_maximum() -> None:
    # INDIGO [S]: max outcome payment 11.712 m at >= 20 %; Gothamist [V]: up to 2.1 m profit
    payout = _pay(RIKERS, reduction=0.25)
    assert payout.investor_repayment == Decimal(11_712_000)
    assert payout.investor_repayment - Decimal(9_600_000) == Decimal(2_112_000)


def test_rikers_below_the_minimum_tier_nothing_from_the_city() -> None:
    # INDIGO [S]: 8.5 % minimum fee (amount unknown, encoded as 0); below 10 % the guarantee still pays
    payout = _pay(RIKERS, reduction=0.095)
    assert _by_id(payout)["success_payment"] == 0
    assert payout.investor_repayment == Decimal(7_200_000)


# --- Region Stockholm health impact bond -----------------------------------------------------------

HIB = "se-region-stockholm-hib-2020"


@pytest.mark.parametrize(
    ("variable_return", "expected"),
    [
        (0.10, 33 * M),  # Mitt i 2021 [V]: success -> SEK 33 m (IFR [V]: cap +10 % over five years)
        (0.50, 33 * M),  # the cap binds above +10 %
        (-0.20, 24 * M),  # Mitt i 2021 [V]: failure -> SEK 24 m (IFR [V]: floor -20 %)
        (-0.90, 24 * M),  # the floor binds below -20 %
        (0.0, 30 * M),  # zero return: the SEK 30 m principal back (SEB/IFR: bond size 30 m)
    ],
)
def test_hib_repayment_between_floor_and_cap(variable_return: float, expected: Decimal) -> None:
    payout = _pay(HIB, variable_return=variable_return)
    assert payout.investor_repayment == expected


def test_hib_hba1c_metric_is_accepted_as_an_outcome() -> None:
    # Region Stockholm 2023 [V]: 54 % no longer in the risk zone at 24 months. The terms do not read it (the link to
    # the variable return is unknown), but it is an outcome of the contract: accepted and echoed, never "no outcome".
    payout = _pay(HIB, variable_return=0.0, out_of_risk_zone=0.54)
    assert payout.outcomes == {"variable_return": 0.0, "out_of_risk_zone": 0.54}
    assert payout.investor_repayment == 30 * M


# --- Peterborough ----------------------------------------------------------------------------------

PETERBOROUGH = "uk-peterborough-2010"


def _peterborough(c1: float, c2: float, all_cohorts: float, events: tuple[float, float] = (130, 149)) -> Payout:
    return _pay(PETERBOROUGH, reduction_cohort={"cohort 1": c1, "cohort 2": c2}, reduction_all=all_cohorts,
                events_avoided={"cohort 1": events[0], "cohort 2": events[1]})


def test_peterborough_cohort_one_missed_the_trigger() -> None:
    # Third Sector / Civil Society [V]: cohort 1 = 8.4 % (142 vs 155 reconvictions per 100, 1,000 prisoners: 130
    # events avoided) against a 10 % trigger -> no payment in 2014
    payout = _peterborough(0.084, 0.0, 0.0)
    assert payout.investor_repayment == 0
    assert _by_id(payout)["cohort_payment[cohort 1]"] == 0


def test_peterborough_paid_from_events_avoided_and_a_price() -> None:
    # Barrow Cadbury / Pioneers Post [V]: 9 % overall >= 7.5 % -> one payment in July 2017. The amount is computed:
    # price 22,000 (derived, see the seed) x (130 + 149) events avoided = 6,138,000 on 27 July 2017.
    payout = _peterborough(0.084, 0.097, 0.09)
    final = next(p for p in payout.payments if p.id == "final_payment[cohort 2]")
    assert (final.amount, final.date) == (Decimal(6_138_000), date(2017, 7, 27))
    assert payout.investor_repayment == Decimal(6_138_000)
    # the derivation: capital plus "just over 3 % a year" from 1 September 2010 (this checks the price's derivation,
    # not the terms: the price is fitted to this result)
    assert payout.irr is not None and 0.030 < payout.irr < 0.031
    # more events avoided, more money: the amount is not typed in
    assert _peterborough(0.084, 0.097, 0.09, events=(130, 200)).investor_repayment == Decimal(22_000 * 330)


def test_peterborough_triggers_per_cohort_and_overall() -> None:
    # contracts.md [V]: >= 10 % in one cohort pays that cohort (22,000 x 130 = 2,860,000 in August 2014); the final
    # all-cohort payment then pays only the rest: 22,000 x 279 - 2,860,000 = 3,278,000
    ids = _by_id(_peterborough(0.10, 0.08, 0.09))
    assert ids["cohort_payment[cohort 1]"] == Decimal(2_860_000)
    assert ids["final_payment[cohort 2]"] == Decimal(3_278_000)
    assert _peterborough(0.099, 0.099, 0.074).investor_repayment == 0


# --- Utah preschool --------------------------------------------------------------------------------

UTAH = "us-utah-preschool-2013"


UTAH_YEARS = [str(y) for y in range(2015, 2026)]


def _utah(cohort1: dict[str, float] | None = None, state: dict[str, float] | None = None) -> Payout:
    """Utah's payout for savings by payment year (years not given saved nothing)."""
    return _pay(UTAH, savings_cohort1={y: (cohort1 or {}).get(y, 0.0) for y in UTAH_YEARS},
                savings_cohorts_2_5={y: (state or {}).get(y, 0.0) for y in UTAH_YEARS})


def test_utah_first_payment_in_2015_is_95_percent_of_savings_to_the_senior_tranche() -> None:
    # contracts.md [V]: ~95 % of savings to investors; first payment ~USD 260,000-267,000 in 2015 (NYT, Bellwether);
    # portfolio-engine.md §3.1: "First payment $267k (95% of $281k)". By hand: 0.95 x 281,000 = 266,950.
    payout = _utah({"2015": 281_000})
    first = next(p for p in payout.payments if p.id == "cohort1_payment[2015]")
    assert (first.amount, first.date) == (Decimal(266_950), date(2015, 10, 31))
    assert _waterfall_by_payee(payout) == {"goldman-sachs": Decimal(266_950), "pritzker": Decimal(0)}
    assert payout.investor_repayment == Decimal(266_950)


def test_utah_principal_plus_5_percent_interest_then_the_success_fee() -> None:
    # contracts.md [V]: 95 % of savings until principal plus 5 % interest (CED, Salt Lake Tribune); then 40 % of
    # savings (unverified). Capital 7 m from 1 Sep 2013. By hand, with 6 m of savings a year from 2015:
    # 2015-10-31 (790 days): owed 7,000,000 x 1.05^(790/365) = 7,779,645.55; paid 0.95 x 6 m = 5,700,000.
    # 2016-10-31 (366 more days): owed 7,000,000 x 1.05^(1156/365) - 5,700,000 x 1.05^(366/365) = 2,183,919.74,
    # paid in full; the rest of that year's savings, 6 m - 2,183,919.74 / 0.95, earns 40 %: 1,480,454.85.
    payout = _utah(state={y: 6_000_000 for y in UTAH_YEARS})
    ids = _by_id(payout)
    owed_2015 = 7_000_000 * 1.05 ** (790 / 365)
    owed_2016 = 7_000_000 * 1.05 ** (1156 / 365) - 5_700_000 * 1.05 ** (366 / 365)
    assert round(owed_2015, 2) == 7_779_645.55 and round(owed_2016, 2) == 2_183_919.74
    assert ids["state_payment[2015]"] == Decimal(5_700_000)
    assert ids["state_payment[2016]"] == Decimal("2183919.74")
    assert ids["state_success_fee[2016]"] == Decimal("1480454.85")
    assert ids["state_payment[2017]"] == 0 and ids["state_success_fee[2017]"] == Decimal(2_400_000)
    # principal and interest add up to an IRR of 5 % before the success fees
    repaid = [(date(2013, 9, 1), -7_000_000.0), (date(2015, 10, 31), 5_700_000.0),
              (date(2016, 10, 31), 2_183_919.74)]
    from registry.finance import xirr
    assert abs(xirr([d for d, _ in repaid], [a for _, a in repaid]) - 0.05) < 1e-7  # type: ignore[operator]


def test_utah_senior_principal_before_subordinated_then_pro_rata() -> None:
    # contracts.md [V]: Goldman Sachs 4.6 m senior + Pritzker 2.4 m subordinate = 7 m; 0.95 x 5 m = 4.75 m in 2015
    payout = _utah(state={"2015": 5_000_000})
    assert _waterfall_by_payee(payout) == {"goldman-sachs": Decimal(4_600_000), "pritzker": Decimal(150_000)}
    later = _utah(state={"2015": 5_000_000, "2016": 5_000_000})
    steps: dict[str, Decimal] = {}
    for p in later.payments:
        if p.id.startswith("waterfall"):
            step = p.id.split("]")[0] + "]" + (p.id.split("]")[1].split("[")[0])
            steps[step] = steps.get(step, Decimal(0)) + p.amount
    assert steps["waterfall.steps[0]"] == Decimal(4_600_000) and steps["waterfall.steps[1]"] == Decimal(2_400_000)
    # what is left after the principal goes 4.6 : 2.4 to the two tranches
    gs, pz = steps["waterfall.steps[2].gs_senior"], steps["waterfall.steps[2].pritzker_sub"]
    assert gs > 0 and abs(gs / pz - Decimal(46) / Decimal(24)) < Decimal("0.0001")
    assert _utah().investor_repayment == 0


def test_utah_cohort_one_capped_at_the_county_maximum_over_all_years() -> None:
    # INDIGO [S]: United Way of Salt Lake and Salt Lake County (cohort 1) max outcome payment USD 1,350,000: a
    # cumulative cap across the years (0.95 x 1 m = 950,000 in 2015, then only 400,000 of 950,000 in 2016)
    payout = _utah({"2015": 1_000_000, "2016": 1_000_000, "2017": 1_000_000})
    ids = _by_id(payout)
    assert [ids[f"cohort1_payment[{y}]"] for y in ("2015", "2016", "2017")] == [
        Decimal(950_000), Decimal(400_000), Decimal(0)]


# --- Chicago CPC rate card -------------------------------------------------------------------------

CHICAGO = "us-chicago-cpc-2014"


CHICAGO_COHORTS = ("cohort 1", "cohort 2", "cohort 3", "cohort 4")


def _chicago(ready: dict[str, float], reading: float = 0, special_ed: float = 0) -> Payout:
    return _pay(CHICAGO, kindergarten_ready={c: ready.get(c, 0) for c in CHICAGO_COHORTS},
                third_grade_reading=reading, special_ed_years_avoided=special_ed)


def test_chicago_prices_per_outcome_unit() -> None:
    # DTC toolkit [S] (2,900 also Urban [V]): 2,900 per ready child, 750 per 3rd-grade reader, 9,100 per
    # special-education year avoided. Urban [V]: cohort 1, 59 % of 325 kindergarten-ready (192 children):
    # 2,900 x 192 = 556,800 (the 500,000 reported is recorded as an unknown in the seed).
    ids = _by_id(_chicago({"cohort 1": 192}))
    assert ids["city_readiness[cohort 1]"] == Decimal(556_800)
    many = _by_id(_chicago({"cohort 1": 100, "cohort 2": 50}, reading=10, special_ed=3))
    assert (many["city_readiness[cohort 1]"], many["city_readiness[cohort 2]"]) == (Decimal(290_000), Decimal(145_000))
    assert (many["city_reading"], many["cps_payment"]) == (Decimal(7_500), Decimal(27_300))


def test_chicago_payer_caps_across_cohorts() -> None:
    # INDIGO [S]: City about USD 4.5 m over all its payments, Chicago Public Schools about USD 30 m. By hand:
    # 2,900 x 1,000 = 2.9 m per cohort; cohort 2 gets the 1.6 m left, later cohorts and 3rd-grade reading nothing.
    ids = _by_id(_chicago({c: 1_000 for c in CHICAGO_COHORTS}, reading=5_000, special_ed=10_000))
    assert [ids[f"city_readiness[{c}]"] for c in CHICAGO_COHORTS] == [
        Decimal(2_900_000), Decimal(1_600_000), Decimal(0), Decimal(0)]
    assert (ids["city_reading"], ids["cps_payment"]) == (0, Decimal(30_000_000))


def test_chicago_pass_through_to_senior_lenders_pro_rata_then_subordinated() -> None:
    # Urban PFS [V]: Goldman Sachs 7.5 m and Northern Trust 5.5 m senior, Pritzker 3.9 m subordinate. By hand for
    # cohort 1's 556,800: 7.5/13 = 321,230.77 and 5.5/13 = 235,569.23 to the seniors, nothing to Pritzker yet.
    payout = _chicago({"cohort 1": 192})
    assert _waterfall_by_payee(payout) == {"goldman-sachs": Decimal("321230.77"),
                                           "northern-trust": Decimal("235569.23"), "pritzker": Decimal(0)}
    # with 20 m paid in all, principal is repaid: 13 m to the seniors, then 3.9 m to Pritzker; the rest stays
    full = _chicago({"cohort 1": 1_000}, special_ed=2_000)  # 2.9 m + 18.2 m
    assert _waterfall_by_payee(full) == {"goldman-sachs": Decimal(7_500_000), "northern-trust": Decimal(5_500_000),
                                         "pritzker": Decimal(3_900_000)}
    assert full.investor_repayment == Decimal(16_900_000)


# --- Educate Girls ---------------------------------------------------------------------------------

EDUCATE_GIRLS = "in-educate-girls-2015"


def test_educate_girls_weights_and_maximum() -> None:
    # INDIGO [S]: max outcome payment USD 422,000; PND [V]: learning 80 %, enrolment 20 %
    half = _pay(EDUCATE_GIRLS, learning_share=0.5, enrolment_share=0.5)
    assert _by_id(half) == {"learning_payment": Decimal(168_800), "enrolment_payment": Decimal(42_200)}
    assert _pay(EDUCATE_GIRLS, learning_share=0, enrolment_share=0).investor_repayment == 0


def test_educate_girls_return_capped_at_15_percent_irr() -> None:
    # INDIGO [S] max IRR 15 %; ImpactAlpha [V]: "a 15% internal rate of return over the three-year investment".
    # CIFF [V]: 160 % of the learning target, 116 % of enrolment -> the full 422,000 would be earned, but the cap
    # binds: capital 270,000 on 1 June 2015, payment 31 May 2018 (1,095 days = 3 years): 270,000 x 1.15^3
    # = 410,636.25 (the published 414,085 is 15 % over 3.06 years; the exact days are not published).
    payout = _pay(EDUCATE_GIRLS, learning_share=1.6, enrolment_share=1.16)
    assert _by_id(payout) == {"learning_payment": Decimal(337_600), "enrolment_payment": Decimal("73036.25")}
    assert payout.investor_repayment == Decimal("410636.25")
    assert payout.irr is not None and abs(payout.irr - 0.15) < 1e-9
    assert abs(payout.investor_repayment - Decimal(414_085)) / Decimal(414_085) < Decimal("0.01")


def test_educate_girls_realised_return_is_recorded() -> None:
    # ImpactAlpha / CIFF [V]: USD 144,085 return = 15 % IRR on USD 270,000
    doc = _doc(EDUCATE_GIRLS)
    assert doc.history is not None
    assert [(p.amount, p.currency) for p in doc.history.payments] == [(270_000 + 144_085, "USD")]
    [result] = doc.history.investor_results
    assert result.irr == Decimal("0.15") and result.repaid is not None and result.repaid.amount == 414_085
    assert doc.finance.capital_committed is not None and doc.finance.capital_committed.amount == 270_000


# --- South Carolina NFP ----------------------------------------------------------------------------

SC_NFP = "us-south-carolina-nfp-2016"


def test_sc_nfp_capped_at_7_5_million() -> None:
    # Social Finance / Harvard [V]: max USD 7.5 m in success payments
    payout = _pay(SC_NFP, success_payment_earned=20_000_000, medicaid_offset=0)
    assert _by_id(payout) == {"success_payment": Decimal(7_500_000)}


def test_sc_nfp_medicaid_netting_can_leave_nothing() -> None:
    # Harvard interim report [V]: preterm birth qualified, but no payment after netting Medicaid-waiver spending
    payout = _pay(SC_NFP, success_payment_earned=1_000_000, medicaid_offset=2_000_000)
    assert _by_id(payout) == {"success_payment": 0}


# --- Koto-SIB --------------------------------------------------------------------------------------

KOTO = "fi-koto-sib-2017"


def test_koto_pays_half_the_public_sector_gain() -> None:
    # qsa.fi [V]: "the payment was 50 % of the difference"; EUR 2,670 per participant for 2,636 in the SIB group
    gain = 2_670 * 2_636
    payout = _pay(KOTO, public_sector_gain=gain, completed_trainings=0)
    ids = _by_id(payout)
    assert (ids["training_fees"], ids["gain_payment"]) == (0, Decimal(gain) / 2)
    assert _by_id(_pay(KOTO, public_sector_gain=-1_000_000, completed_trainings=0))["gain_payment"] == 0


def test_koto_training_fee() -> None:
    # INDIGO [S]: EUR 1,500 fixed fee per completed integration training
    payout = _pay(KOTO, public_sector_gain=0, completed_trainings=100)
    assert _by_id(payout)["training_fees"] == Decimal(150_000)


def test_koto_fund_passes_payments_to_its_investors_pro_rata() -> None:
    # INDIGO [S] / Yle / pledgetimes [V]: EIF 10 m, SOK 1 m, others 3.3 m of EUR 14.3 m. By hand for the
    # evaluated gain (qsa.fi [V]: EUR 2,670 x 2,636) paid half: 3,519,060 x 10/14.3 = 2,460,881.12,
    # x 1/14.3 = 246,088.11, x 3.3/14.3 = 812,090.77. Before the pass-through the investors' repayment was 0 and
    # the payout printed "multiple 0.0".
    payout = _pay(KOTO, public_sector_gain=2_670 * 2_636, completed_trainings=0)
    assert _waterfall_by_payee(payout) == {"eif": Decimal("2460881.12"), "sok": Decimal("246088.11"),
                                           "koto-other-investors": Decimal("812090.77")}
    assert payout.investor_repayment == Decimal(3_519_060)
    assert payout.no_position is None and payout.multiple is not None and 0.246 < payout.multiple < 0.247


# --- Örnsköldsvik (normalised units of Previa's full fee) ------------------------------------------

ORNSKOLDSVIK = "se-ornskoldsvik-2018"


def test_ornskoldsvik_previa_carries_75_percent_of_the_risk() -> None:
    # Upphandlingsmyndigheten [V]: "Previa takes 75 % of the risk for its interventions and gets paid in full when sick
    # leave falls". No source makes the programme's 12 % target (RISE/Lumell: the self-financing point) Previa's
    # trigger, so any fall earns the full fee; no fall leaves only the 25 % not at risk.
    assert _by_id(_pay(ORNSKOLDSVIK, reduction=0.0)) == {"fixed_fee": Decimal("0.25"), "outcome_fee": 0}
    assert _by_id(_pay(ORNSKOLDSVIK, reduction=-0.05)) == {"fixed_fee": Decimal("0.25"), "outcome_fee": 0}
    # Upphandlingsmyndigheten [V]: 8 % less short-term absence after one year -> sick leave fell -> full fee
    assert _by_id(_pay(ORNSKOLDSVIK, reduction=0.08)) == {"fixed_fee": Decimal("0.25"), "outcome_fee": Decimal("0.75")}


def test_ornskoldsvik_target_threshold_is_kept_as_an_alternative_reading() -> None:
    # the earlier encoding (full fee only at the 12 % programme target) is not sourced as a payment rule; it is kept as
    # an alternative reading with its own rules: 8 % pays only the fixed 25 %, 12 % pays in full
    doc = _doc(ORNSKOLDSVIK)
    assert doc.payment_terms is not None
    n = _reading(doc, next(a for a in doc.payment_terms.alternative_readings
                           if a.payments and "0.12" in a.payments[-1].amount))
    assert _by_id(_payout(doc, n, reduction=0.08)) == {"fixed_fee": Decimal("0.25"), "outcome_fee": 0}
    assert _by_id(_payout(doc, n, reduction=0.12)) == {"fixed_fee": Decimal("0.25"), "outcome_fee": Decimal("0.75")}


# --- NSW Newpin ------------------------------------------------------------------------------------

NEWPIN = "au-newpin-2013"


def test_newpin_principal_protection() -> None:
    # INDIGO [S]: 100 % of principal at or above a 55 % restoration rate over the full term; a minimum of 50 % at
    # maturity (encoded as exactly 50 %, a lower bound). Paid at completion, September 2020, with year 7's interest.
    assert _by_id(_pay(NEWPIN, restoration_rate=0.59))["principal_repayment[year 7]"] == 7 * M
    assert _by_id(_pay(NEWPIN, restoration_rate=0.50))["principal_repayment[year 7]"] == Decimal(3_500_000)
    payout = _pay(NEWPIN, restoration_rate=0.59)
    assert {p.id: p.date for p in payout.payments}["principal_repayment[year 7]"] == date(2020, 9, 30)


def test_newpin_one_threshold_convention_at_exactly_55_percent() -> None:
    # The tier table (portfolio-engine.md §3.1): "55% <= r < 60%: 3%", "< 55%: floor". At exactly 55 % the interest
    # band and the principal rule agree: 3 % a year (A$210,000 on A$7 m) from year 4 on, and full principal.
    ids = _by_id(_pay(NEWPIN, restoration_rate=0.55))
    assert ids["interest[year 4]"] == Decimal(210_000)
    assert ids["principal_repayment[year 7]"] == 7 * M
    below = _by_id(_pay(NEWPIN, restoration_rate=0.5499))
    assert below["interest[year 4]"] == 0 and below["principal_repayment[year 7]"] == Decimal(3_500_000)


@pytest.mark.parametrize(
    ("rate", "first_years", "later_years"),
    # portfolio-engine.md §3.1 (unverified bands): >=70 % 15 %, 65-70 % 12 %, 60-65 % 7.5 %, 55-60 % 3 % a year on
    # A$7 m; INDIGO [S]: "The minimum Interest Rate is 5% p.a. over the first three years" -> years 1-3 pay at least
    # A$350,000
    [
        (0.54, 350_000, 0),
        (0.55, 350_000, 210_000),
        (0.62, 525_000, 525_000),
        (0.65, 840_000, 840_000),
        (0.70, 1_050_000, 1_050_000),
        (0.9, 1_050_000, 1_050_000),
    ],
)
def test_newpin_interest_bands(rate: float, first_years: int, later_years: int) -> None:
    ids = _by_id(_pay(NEWPIN, restoration_rate=rate))
    assert [ids[f"interest[year {y}]"] for y in range(1, 4)] == [Decimal(first_years)] * 3
    assert [ids[f"interest[year {y}]"] for y in range(4, 8)] == [Decimal(later_years)] * 4


def test_newpin_yearly_restoration_rates_set_each_years_interest() -> None:
    # Each year's interest follows that year's rate. Year 1's reported 7.5 % (portfolio-engine.md §3.1, unverified)
    # is the 60-65 % band: A$525,000 on A$7 m. By hand for rates 62, 66, 71, 50, 60, 60, 60 %: interest
    # 525,000 + 840,000 + 1,050,000 + 0 + 3 x 525,000 = 3,990,000; the mean rate 61.3 % >= 55 % repays A$7 m.
    rates = {f"year {y}": r for y, r in enumerate((0.62, 0.66, 0.71, 0.50, 0.60, 0.60, 0.60), start=1)}
    payout = _pay(NEWPIN, restoration_rate=rates)
    ids = _by_id(payout)
    assert [ids[f"interest[year {y}]"] for y in range(1, 8)] == [
        Decimal(v) for v in (525_000, 840_000, 1_050_000, 0, 525_000, 525_000, 525_000)]
    assert payout.investor_repayment == Decimal(3_990_000 + 7_000_000)
    assert payout.outcomes["restoration_rate[year 4]"] == 0.5


def test_newpin_irr_matches_the_top_band_rate() -> None:
    # INDIGO [S]: "The maximum Interest Rate is 15% p.a. over the full term": with principal back and 15 % paid each
    # year the IRR must be close to 15 % a year (a single year's interest at maturity gave about 2 %)
    payout = _pay(NEWPIN, restoration_rate=0.75)
    assert payout.irr is not None and 0.14 < payout.irr <= 0.15
    assert payout.investor_repayment == Decimal(7_000_000 + 7 * 1_050_000)


# --- contracts without executable terms ------------------------------------------------------------


@pytest.mark.parametrize(
    "contract_id",
    ["se-botkyrka-2018", "se-hasselby-vallingby-2021", "se-harnosand-2024", "us-massachusetts-roca-2014",
     "fi-occupational-wellbeing-2015"],
)
def test_unpriced_contracts_list_their_unknowns(contract_id: str) -> None:
    # the sources give no prices for these: no formula is invented, and the gap is stated
    doc = _doc(contract_id)
    assert doc.payment_terms is not None
    assert doc.payment_terms.payments == []
    assert doc.payment_terms.unknowns
    assert compile_terms(doc).payment_ids == ()
