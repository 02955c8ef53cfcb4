"""The outcome-category catalogue and its rules: INDIGO's and the seed contracts' metrics mapped onto it."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import yaml

from registry.indigo.values import clean
from registry.outcome_categories import (
    CATALOGUE,
    CatalogueError,
    categories_matching,
    categorise,
    category_by_id,
    load_catalogue,
    metric_category,
    outcome_categories,
)

ROOT = Path(__file__).resolve().parents[2]
INDIGO = ROOT / "registry" / "indigo" / "data" / "2025-12" / "projects"
SEEDS = ROOT / "seed_contracts"


def _indigo_rows(name: str) -> list[dict[str, str]]:
    with open(INDIGO / name, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _indigo_metric_names() -> list[tuple[tuple[str, str], str]]:
    """(project, metric id) and the name the importer gives it (registry/indigo/mapping.py): the definition's
    first line, cleaned, at most 160 characters."""
    out = []
    for r in _indigo_rows("projects_outcome_metrics.csv"):
        name = clean(r["Outcome Definition - (Value)"]).split("\n")[0]
        out.append(((r["Project ID"], r["Id"]), (name[:157] + "...") if len(name) > 160 else name))
    return out


def test_catalogue_is_bilingual_and_complete() -> None:
    cats = outcome_categories()
    assert len(cats) >= 12
    assert len({c.id for c in cats}) == len(cats)
    for cat in cats:
        for lang in ("en", "sv"):
            assert cat.label(lang).strip() and cat.description(lang).strip() and cat.words[lang]
        assert cat.label("sv") != cat.label("en")
        assert cat.rules
    for wanted in ("employment", "reoffending", "school_attainment", "sick_leave", "health_markers",
                   "homelessness", "child_placement", "education_training", "wellbeing"):
        assert category_by_id(wanted) is not None, wanted


@pytest.mark.parametrize(("name", "expected"), [
    ("Entry into Employment", "employment"),
    ("Metric 2: Job Start", "employment"),
    ("Earns £768", "employment"),
    ("Part time work 13 weeks (Entry into employment)", "employment"),
    ("Improved education/training (Entry into employment)", "education_training"),  # education named first
    ("Volunteering/self-employed 13 weeks (Entry into employment)", "volunteering"),
    ("Reduction in reconviction events, one cohort", "reoffending"),
    ("Accommodation sustained for 6 Months", "homelessness"),
    ("Metric 1: Young person stays out of residential care for three months", "child_placement"),
    ("First Level 2 NQF qualification", "school_attainment"),
    ("Improved school attendance", "school_engagement"),
    ("Reduction in short-term sick leave", "sick_leave"),
    ("Share of participants no longer in the prediabetes range", "health_markers"),
    ("Reductions in cohort A&E admissions", "health_care_use"),
    ("Mental health (MH) entry into engagement with services - Better Managed Needs", "substance_mental_health"),
    ("Initial Assessment fee", "engagement"),
    ("Job readiness (at least 9 Roca contacts per quarter)", "engagement"),
    ("Tonnes of plastic waste collected", "environment"),
])
def test_rules(name: str, expected: str) -> None:
    match = categorise([name])
    assert match is not None and match.category == expected, (name, match)
    assert match.name == name and match.rule


def test_swedish_names_are_categorised_when_there_is_no_english_one() -> None:
    assert metric_category({"name": {"sv": "Minskad sjukfrånvaro"}}).category == "sick_leave"
    assert metric_category({"name": {"sv": "Personer i sysselsättning efter ett år"}}).category == "employment"
    assert metric_category({"name": {"sv": "Återfall i brott inom två år"}}).category == "reoffending"
    # The English name wins over the Swedish one
    assert metric_category({"name": {"en": "Entry into employment", "sv": "Minskad sjukfrånvaro"}}).category \
        == "employment"
    assert metric_category({"name": {"en": "Intervention delivered as contracted"}}) is None


def test_indigo_metrics_mapped_counted_from_the_raw_csv() -> None:
    """Every INDIGO outcome metric goes through the rules; the priced ones (those the explorer shows) nearly all
    map, and what is left unmapped is counted and named here."""
    names = _indigo_metric_names()
    first: dict[tuple[str, str], str] = {}
    for key, name in names:
        first.setdefault(key, name)  # a repeated id is renamed by the importer; the price is the first's
    priced = {(r["Project ID"], r["Outcome Metric Id - (Value)"])
              for r in _indigo_rows("projects_outcome_pricings.csv") if r["Price Per Unit - Amount - (Value)"].strip()}
    counts = Counter(m.category if (m := categorise([name])) else None for _key, name in names)
    priced_names = [first[key] for key in priced if key in first]
    unmapped_priced = sorted(name for name in priced_names if categorise([name]) is None)
    # 383 pricing rows; 8 name a metric id the project's metrics do not have, so are not imported as prices
    assert len(names) == 1419 and len(priced) == 383 and len(priced_names) == 375
    assert unmapped_priced == []  # every priced metric has a category
    assert counts[None] == 120  # unpriced, project-specific indicators ("Number of schools 'SIB ready'", ...)
    assert counts["employment"] == 263 and counts["reoffending"] == 52 and counts["homelessness"] == 146


SEED_EXPECTED = {
    ("au-newpin-2013", "restoration_rate"): "child_placement",
    ("fi-koto-sib-2017", "public_sector_gain"): "public_savings",
    ("fi-koto-sib-2017", "completed_trainings"): "education_training",
    ("fi-occupational-wellbeing-2015", "sick_days_reduction"): "sick_leave",
    ("in-educate-girls-2015", "learning_share"): "school_attainment",
    ("in-educate-girls-2015", "enrolment_share"): "education_training",
    ("se-botkyrka-2018", "reduction"): "sick_leave",
    ("se-botkyrka-2018", "sick_days_avoided"): "sick_leave",
    ("se-harnosand-2024", "cost_savings"): "public_savings",
    ("se-hasselby-vallingby-2021", "negative_development_broken"): "wellbeing",
    ("se-norrkoping-2016", "savings"): "public_savings",
    ("se-norrkoping-2016", "school_improved"): "school_attainment",
    ("se-norrkoping-2016", "social_outcome_measures"): "wellbeing",
    ("se-ornskoldsvik-2018", "reduction"): "sick_leave",
    ("se-region-stockholm-hib-2020", "out_of_risk_zone"): "health_markers",
    ("uk-peterborough-2010", "reduction_cohort"): "reoffending",
    ("uk-peterborough-2010", "reduction_all"): "reoffending",
    ("uk-peterborough-2010", "events_avoided"): "reoffending",
    ("us-chicago-cpc-2014", "kindergarten_ready"): "school_attainment",
    ("us-chicago-cpc-2014", "third_grade_reading"): "school_attainment",
    ("us-chicago-cpc-2014", "special_ed_years_avoided"): "school_attainment",
    ("us-massachusetts-roca-2014", "bed_days_reduction"): "reoffending",
    ("us-massachusetts-roca-2014", "job_readiness"): "engagement",
    ("us-massachusetts-roca-2014", "employment"): "employment",
    ("us-nyc-rikers-2012", "reduction"): "reoffending",
    ("us-south-carolina-nfp-2016", "preterm_birth_reduction"): "health_markers",
    ("us-south-carolina-nfp-2016", "birth_spacing_reduction"): "health_markers",
    ("us-south-carolina-nfp-2016", "child_injury_reduction"): "health_care_use",
    ("us-south-carolina-nfp-2016", "medicaid_offset"): "public_savings",
    ("us-utah-preschool-2013", "special_ed_avoided"): "school_attainment",
    ("us-utah-preschool-2013", "savings_cohort1"): "public_savings",
    ("us-utah-preschool-2013", "savings_cohorts_2_5"): "public_savings",
}


def test_seed_metrics_mapped() -> None:
    """Each seed metric's category, and the ones left unmapped (process or financial figures, not outcomes)."""
    got, unmapped = {}, []
    for path in sorted(SEEDS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for metric in doc.get("outcome_metrics", []):
            match = metric_category(metric)
            if match:
                got[(doc["id"], metric["id"])] = match.category
            else:
                unmapped.append((doc["id"], metric["id"]))
    assert got == SEED_EXPECTED
    assert sorted(unmapped) == [
        ("se-hasselby-vallingby-2021", "follow_up_outcomes"),
        ("se-hasselby-vallingby-2021", "intervention_goal_reached"),
        ("se-norrkoping-2016", "delivered"), ("se-region-stockholm-hib-2020", "variable_return"),
        ("us-south-carolina-nfp-2016", "low_income_zip_enrolment"),
        ("us-south-carolina-nfp-2016", "success_payment_earned"),
    ]


def test_search_words_in_both_languages() -> None:
    assert categories_matching("återfall") == ["reoffending"]
    assert categories_matching("recidivism") == ["reoffending"]
    assert "sick_leave" in categories_matching("sjukfrånvaro")
    assert "employment" in categories_matching("arbete")
    assert categories_matching("   ") == []


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cats.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_catalogue_is_refused_naming_field_and_reason(tmp_path: Path) -> None:
    good = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    bad = {**good, "categories": [dict(good["categories"][0], match=["(unclosed"])]}
    with pytest.raises(CatalogueError, match=r"cats\.yaml: categories\.0\.match: .*match\[0\] is not a regular"):
        load_catalogue(_write(tmp_path, yaml.safe_dump(bad, allow_unicode=True)))
    twice = {**good, "categories": good["categories"][:1] * 2}
    with pytest.raises(CatalogueError, match="used twice"):
        load_catalogue(_write(tmp_path, yaml.safe_dump(twice, allow_unicode=True)))
    no_sv = {**good, "categories": [dict(good["categories"][0], label={"en": "Sick leave"})]}
    with pytest.raises(CatalogueError, match=r"categories\.0\.label\.sv: Field required"):
        load_catalogue(_write(tmp_path, yaml.safe_dump(no_sv, allow_unicode=True)))
    with pytest.raises(CatalogueError, match="cats.yaml"):
        load_catalogue(_write(tmp_path, "categories: [\n"))
