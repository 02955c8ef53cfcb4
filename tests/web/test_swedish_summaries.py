"""The Nordic seed contracts carry Swedish summaries of their intervention, terms and results, citing the
document's own sources; Swedish readers see them on the contract page and the fact sheet, English ones do not."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from registry.loader import SEED_DIR, read_contract_file
from web.factsheet_service import build_factsheet_pdf

NORDIC = ("SE", "FI", "DK", "NO", "IS")
NORDIC_SEEDS = sorted(p.stem for p in SEED_DIR.glob("*.yaml")
                      if read_contract_file(p).classification.country in NORDIC)


def test_every_nordic_seed_has_a_sourced_swedish_summary() -> None:
    assert len(NORDIC_SEEDS) >= 8
    for stem in NORDIC_SEEDS:
        doc = read_contract_file(SEED_DIR / f"{stem}.yaml")
        summary = doc.summaries.get("sv")
        assert summary is not None and summary.intervention and summary.terms, stem
        cited = {s for _path, fact in doc.iter_facts() if fact is not summary for s in fact.sources}
        assert set(summary.sources) <= cited, f"{stem}: the summary cites sources no fact of the document cites"


@pytest.mark.parametrize("stem", ["se-norrkoping-2016", "fi-koto-sib-2017"])
def test_the_contract_page_shows_the_summary_to_swedish_readers(client: FlaskClient, seeded: list[str],
                                                                stem: str) -> None:
    summary = read_contract_file(SEED_DIR / f"{stem}.yaml").summaries["sv"]
    sv = client.get(f"/contracts/{stem}?lang=sv").get_data(as_text=True)
    assert 'data-summary-lang="sv"' in sv and "<dt>Insatsen</dt>" in sv
    assert summary.intervention.split(":")[0] in sv and summary.terms[:40] in sv
    en = client.get(f"/contracts/{stem}?lang=en").get_data(as_text=True)
    assert 'data-summary-lang' not in en and summary.terms[:40] not in en


def test_the_swedish_fact_sheet_leads_with_the_summary(app: Flask) -> None:
    doc = read_contract_file(SEED_DIR / "se-region-stockholm-hib-2020.yaml")
    with app.app_context():
        sheets = {lang: build_factsheet_pdf(doc, lang) for lang in ("sv", "en")}
    text = {lang: " ".join("\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages).split())
            for lang, pdf in sheets.items()}
    assert "förebyggande program mot typ 2-diabetes" in text["sv"]
    assert "förebyggande program" not in text["en"] and "prevention programme" in text["en"]
