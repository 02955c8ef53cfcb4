"""One layout pass per sheet (the compact form is chosen from the HTML before layout), and oversized texts.

Layout passes are counted by wrapping the real ``_render_document`` (WeasyPrint still lays out every sheet).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlmodel import Session, col, select

from registry.indigo.importer import import_export
from registry.loader import SEED_DIR, parse_document, read_contract_file
from registry.models import Contract
from tests.factsheets.conftest import rich_contract
from web import factsheet_service
from web import pdf as pdf_rendering
from web.factsheet_service import build_factsheet_pdf, display_document

SAMPLE_12 = Path(__file__).resolve().parent.parent / "data" / "indigo-sample" / "2025-12"


def long_text(length: int) -> str:
    return ("lorem ipsum dolor sit amet " * (length // 27 + 1))[:length].strip()


class Layouts:
    """Records each layout WeasyPrint makes while it is installed (its page count)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pages: list[int] = []
        self.compact: list[bool] = []
        real = pdf_rendering._render_document

        def counted(html: str, fetcher: Any) -> Any:
            document = real(html, fetcher)
            self.pages.append(len(document.pages))
            self.compact.append('<body class="compact">' in html)
            return document

        monkeypatch.setattr(pdf_rendering, "_render_document", counted)


def pdf_pages(pdf: bytes) -> list[str]:
    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize("path", sorted(SEED_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_seed_sheet_is_laid_out_once(path: Path, app: Flask,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    layouts = Layouts(monkeypatch)
    with app.app_context():
        pdf = build_factsheet_pdf(read_contract_file(path), "sv")
    assert len(layouts.pages) == 1, f"laid out {len(layouts.pages)} times ({layouts.pages} pages)"
    assert 1 <= len(pdf_pages(pdf)) <= 3  # the compact form of the longest seeds (Norrköping) takes a third page


def test_norrkoping_takes_the_compact_form_without_laying_out_the_full_one(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = read_contract_file(SEED_DIR / "se-norrkoping-2016.yaml")
    with app.app_context():
        full = factsheet_service.factsheet_html(doc, "en")
        assert pdf_rendering.estimated_pages(full) > 2
        layouts = Layouts(monkeypatch)
        build_factsheet_pdf(doc, "en")
    assert layouts.compact == [True]


def test_indigo_sheets_are_laid_out_once(app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import_export(SAMPLE_12, session=session)
    session.commit()
    ids = session.exec(select(Contract.id).order_by(col(Contract.id))).all()
    assert len(ids) >= 7
    layouts = Layouts(monkeypatch)
    with app.app_context():
        for contract_id in ids:
            doc = display_document(session=session, contract_id=contract_id)
            assert doc is not None
            build_factsheet_pdf(doc, "en")
    assert len(layouts.pages) == len(ids), layouts.pages


def test_a_short_sheet_keeps_the_full_form(app: Flask) -> None:
    doc = parse_document(rich_contract(), "test")
    with app.app_context():
        assert pdf_rendering.estimated_pages(factsheet_service.factsheet_html(doc, "sv")) <= 2
        text = " ".join(pdf_pages(build_factsheet_pdf(doc, "sv")))
    assert "förkortade" not in text  # nothing shortened, so no note


@pytest.mark.parametrize(("lang", "note"), [
    ("en", "Texts ending in … are shortened; the full text is on the contract's page in the registry."),
    ("sv", "Texter som slutar med … är förkortade; hela texten finns på kontraktets sida i registret."),
])
def test_the_longest_texts_the_schema_allows_are_shortened_with_a_note(lang: str, note: str, app: Flask) -> None:
    # The schema caps free text at 20,000 characters (names of organisations 500, source titles 2,000); a
    # megabyte field is refused when loaded, so the longest a stored contract can hold is what is shown here.
    data = rich_contract()
    data["identity"]["names"][lang] = long_text(20_000)
    data["classification"]["intervention"] = long_text(20_000)
    data["results"][0]["summary"] = {"sv": long_text(20_000), "en": long_text(20_000)}
    data["outcome_metrics"][0]["definition"] = long_text(20_000)
    data["outcome_metrics"][0]["name"] = {"sv": long_text(20_000), "en": long_text(20_000)}
    data["sources"][0]["title"] = long_text(2_000)
    data["organisations"][0]["name"] = long_text(500)
    doc = parse_document(data, "test")
    with app.app_context():
        pdf = build_factsheet_pdf(doc, lang)
    pages = pdf_pages(pdf)
    assert len(pages) <= 2
    text = " ".join(pages)
    assert note in text
    assert text.count("lorem") < 400  # each megabyte field a few lines at most
    assert len(pdf) < 200_000
