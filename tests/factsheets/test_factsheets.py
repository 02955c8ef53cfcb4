"""Fact sheet PDFs: the key facts as real text in both languages, a page that is not blank, the cache."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlmodel import Session, select

from registry.loader import parse_document, upsert_contract
from registry.models import Factsheet
from tests.factsheets.conftest import rich_contract
from web.factsheet_service import build_factsheet_pdf, factsheet_hash, render_factsheet, stale_factsheets


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def normalise(text: str) -> str:
    # Extracted text has line breaks and no-break spaces where the layout put them.
    return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())


@pytest.fixture
def stored(session: Session) -> str:
    doc = parse_document(rich_contract(), "test")
    upsert_contract(doc, session=session, actor="test", origin_ref="test")
    session.commit()
    return doc.id


EXPECTED = {
    "sv": ["Faktablad", "Sociala utfallskontraktet i Örebro – bättre skolgång för placerade barn",
           "Status: Pågår", "Utfallsansvarig", "Testkommun", "Finansiär", "Investor AB", "Utlovat kapital",
           "5 000 000 kr", "Garanti", "4 000 000 kr", "Högsta premie", "2 000 000 kr", "60 (mål) barn och unga",
           "Återbetalning till investerare", "Minskade kostnader för socialtjänsten", "Historisk baslinje",
           "Tidslinje", "Avtal undertecknat", "Mätning av kostnader", "skolresultaten förbättrades",
           "Final report", "verifierad", "registerversion"],
    "en": ["Fact sheet", "Örebro social outcomes contract: better schooling for children in care",
           "Status: Implementation", "Outcome payer", "Testkommun", "Investor", "Capital committed",
           "SEK 5,000,000", "Guarantee", "SEK 4,000,000", "Maximum premium", "SEK 2,000,000",
           "60 (targeted) barn och unga", "Investor repayment", "Social-services savings", "Historical baseline",
           "Contract signed", "school results improved", "Final report", "verified", "registry version"],
}


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_sheet_text_holds_the_key_facts(lang: str, app: Flask) -> None:
    doc = parse_document(rich_contract(), "test")
    with app.app_context():
        pdf = build_factsheet_pdf(doc, lang)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert 1 <= len(reader.pages) <= 2
    text = normalise(pdf_text(pdf))
    missing = [fact for fact in EXPECTED[lang] if fact not in text]
    assert not missing, f"not in the {lang} sheet: {missing}\n{text}"
    other = "en" if lang == "sv" else "sv"
    assert EXPECTED[other][0] not in text.split(EXPECTED[lang][0])[0]  # the heading is in the sheet's language


def test_fonts_are_embedded(app: Flask, tmp_path: Path) -> None:
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) is not installed")
    with app.app_context():
        pdf = build_factsheet_pdf(parse_document(rich_contract(), "test"), "sv")
    path = tmp_path / "sheet.pdf"
    path.write_bytes(pdf)
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
    fonts = [line.split() for line in lines[2:] if line.strip()]
    assert fonts, "no fonts in the PDF"
    # Columns: name type encoding emb sub uni ...; every font is embedded.
    assert all("yes" == f[-5] for f in fonts), lines


def test_rendered_page_is_not_blank(app: Flask, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image, ImageStat

    with app.app_context():
        pdf = build_factsheet_pdf(parse_document(rich_contract(), "test"), "en")
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(tmp_path / "sheet.pdf"),
                    str(tmp_path / "page")], check=True)
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    assert image.size[1] > image.size[0]  # portrait A4
    grey = np.asarray(image)
    dark = float((grey < 200).mean())
    assert 0.01 < dark < 0.5, dark  # ink on the page, but not a black page either
    assert ImageStat.Stat(image).stddev[0] > 10
    # The chart's coloured lines are there: some pixels are clearly blue (investor repayment).
    rgb = np.asarray(Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")).astype(int)
    assert ((rgb[..., 2] > 120) & (rgb[..., 0] < 80)).sum() > 20


def test_sheet_is_cached_until_the_contract_changes(app: Flask, session: Session, stored: str) -> None:
    with app.app_context():
        first = render_factsheet(stored, "sv", session=session)
        session.commit()
        row = session.exec(select(Factsheet).where(Factsheet.contract_id == stored)).one()
        assert row.lang == "sv" and bytes(row.pdf) == first
        assert stale_factsheets(session=session) == [(stored, "en")]
        # A second request serves the cached bytes (a fresh render would differ in its timestamp).
        assert render_factsheet(stored, "sv", session=session) == first

        data = rich_contract()
        data["stage"] = "complete"
        doc = parse_document(data, "test")
        upsert_contract(doc, session=session, actor="test", origin_ref="test")
        session.commit()
        assert (stored, "sv") in stale_factsheets(session=session)
        second = render_factsheet(stored, "sv", session=session)
        session.commit()
    assert second != first
    assert "Avslutat" in pdf_text(second)
    row = session.exec(select(Factsheet).where(Factsheet.contract_id == stored, Factsheet.lang == "sv")).one()
    session.refresh(row)
    assert row.content_hash == factsheet_hash(doc)


def test_download_route(client: FlaskClient, stored: str) -> None:
    response = client.get(f"/contracts/{stored}/factsheet.pdf?lang=en")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "Fact sheet" in pdf_text(response.data)
    assert client.get(f"/contracts/{stored}/factsheet.pdf?lang=de").status_code == 400
    assert client.get("/contracts/no-such-contract/factsheet.pdf").status_code == 404


def test_portfolio_report_is_for_its_owner_only(
    client: FlaskClient, login_as, make_user, engine, stored: str  # noqa: ANN001
) -> None:
    from registry.models import Portfolio

    owner = login_as("owner", role="investor")
    other = make_user("other", role="investor")
    result = {"settings": {"scenarios": 1000, "seed": 1},
              "summary": {"expected_multiple": {"estimate": 1.0312, "std_error": 0.002},
                          "p_loss": {"estimate": 0.25, "std_error": 0.01}},
              "contracts": [{"holding": "Örebro", "capital": 10000000.0, "p_loss": 0.25}],
              "concentration": []}
    with Session(engine) as s:
        mine = Portfolio(owner_id=owner.id, name="Min portfölj – Åre", spec={}, result=result)
        theirs = Portfolio(owner_id=other.id, name="Theirs", spec={}, result=result)
        empty = Portfolio(owner_id=owner.id, name="Empty", spec={})
        s.add_all([mine, theirs, empty])
        s.commit()
        ids = mine.id, theirs.id, empty.id
    response = client.get(f"/portfolios/{ids[0]}/report.pdf?lang=en")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = normalise(pdf_text(response.data))
    assert "Min portfölj – Åre" in text and "Portfolio report" in text
    assert "Expected multiple" in text and "1.03" in text and "Örebro" in text
    assert client.get(f"/portfolios/{ids[1]}/report.pdf").status_code == 404
    assert client.get(f"/portfolios/{ids[2]}/report.pdf").status_code == 409


def _word_boxes(pdf_path: Path) -> list[tuple[str, float, float]]:
    """(word, yMin, yMax) of every word on page 1, from poppler's pdftotext -bbox."""
    import re

    html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf_path), "-"], check=True,
                          capture_output=True, text=True).stdout
    pattern = r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>'
    return [(w, float(y0), float(y1)) for y0, y1, w in re.findall(pattern, html)]


def test_sections_do_not_overlap(app: Flask, tmp_path: Path) -> None:
    """The payoff chart starts below the key figures and parties (floats once let it overlap them)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    with app.app_context():
        pdf = build_factsheet_pdf(parse_document(rich_contract(), "test"), "en")
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    words = _word_boxes(tmp_path / "sheet.pdf")
    payoff_top = min(y0 for w, y0, _ in words if w == "Payments")  # the heading "Payments by outcome"

    def first(word: str) -> float:  # key figures and parties come first on the page
        return min(y1 for w, _, y1 in words if w == word)

    # "Maximum premium" is the last key figure with a label of its own; "Investor AB" the last party.
    assert first("premium") < payoff_top
    assert first("Guarantee") < payoff_top
    assert first("AB") < payoff_top
