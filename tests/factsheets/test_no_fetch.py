"""Rendering fetches nothing from outside: not from the document's text, not even from hostile HTML."""

from __future__ import annotations

import io
import logging

import pytest
from flask import Flask
from pypdf import PdfReader

from registry.loader import parse_document
from tests.factsheets.conftest import rich_contract
from web.factsheet_service import build_factsheet_pdf
from web.pdf import html_to_pdf, make_fetcher

SECRET = "root:x:0:0"  # the first line of /etc/passwd on every Linux system


def pdf_text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)


def hostile_contract(base: str) -> dict:
    data = rich_contract()
    data["identity"]["names"]["en"] = f'Contract <img src="{base}/name.png"> ![x]({base}/md.png)'
    data["classification"]["intervention"] = (
        f'<link rel="stylesheet" href="{base}/style.css"><style>@import url("{base}/import.css");</style>'
        '<img src="file:///etc/passwd"> [passwd](file:///etc/passwd)'
    )
    data["results"][0]["summary"]["en"] = (
        f'<object data="{base}/object"></object><iframe src="{base}/iframe"></iframe> '
        f'<a href="{base}/link" rel="attachment">x</a> <svg><image href="{base}/svg.png"/></svg>'
    )
    data["outcome_metrics"][1]["name"]["en"] = f'<img src="{base}/metric.png">Savings'
    data["sources"].append({"id": "evil", "title": f'<img src="{base}/source.png">', "url": f"{base}/evil"})
    data["sources"].append({"id": "web", "title": "Web page", "url": f"{base}/source-url"})
    return data


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_a_contract_crafted_to_fetch_renders_without_fetching(
    lang: str, app: Flask, recording_server: tuple[str, list[str]]
) -> None:
    base, requests = recording_server
    doc = parse_document(hostile_contract(base), "test")
    fetcher = make_fetcher()
    with app.app_context():
        pdf = build_factsheet_pdf(doc, lang, fetcher=fetcher)
    assert requests == []
    # The document's markup never became elements, so the fetcher was only asked for the stylesheet.
    assert fetcher.served == ["utfall-static:factsheet.css"]
    assert fetcher.refused == []
    text = pdf_text(pdf)
    assert SECRET not in text and SECRET.encode() not in pdf
    assert "file:///etc/passwd" in text  # shown as text, as written
    assert b"/EmbeddedFile" not in pdf


def test_the_fetcher_refuses_everything_but_static_files(
    recording_server: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """Even HTML that does carry resource elements (a template bug) cannot reach the network or files."""
    base, requests = recording_server
    html = f"""<!doctype html><html><head>
      <link rel="stylesheet" href="{base}/style.css">
      <link rel="stylesheet" href="file:///etc/passwd">
      <link rel="stylesheet" href="utfall-static:factsheet.css">
      <link rel="stylesheet" href="utfall-static:../../registry/models.py">
      <style>@import url("{base}/import.css"); @font-face {{ font-family: X; src: url("{base}/font.ttf"); }}
             body {{ background: url("{base}/bg.png"); font-family: X, sans-serif }}</style>
      </head><body><p>Hej å ä ö</p>
      <img src="{base}/img.png"><img src="file:///etc/passwd"><img src="https://127.0.0.1:1/x.png">
      <img src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E">
      <object data="{base}/object"></object><embed src="{base}/embed">
      <a rel="attachment" href="file:///etc/passwd">passwd</a>
      <svg><image href="{base}/svg.png" width="10" height="10"/></svg>
      </body></html>"""
    fetcher = make_fetcher()
    with caplog.at_level(logging.WARNING):
        pdf = html_to_pdf(html, fetcher=fetcher)
    assert requests == []
    assert fetcher.served == ["utfall-static:factsheet.css"]
    refused = " ".join(fetcher.refused)
    for needle in ("/style.css", "file:///etc/passwd", "/img.png", "https://127.0.0.1:1", "registry/models.py",
                   "/bg.png", "data:image"):
        assert needle in refused, needle
    assert SECRET not in pdf_text(pdf) and SECRET.encode() not in pdf
    assert b"/EmbeddedFile" not in pdf
    assert "Hej å ä ö" in pdf_text(pdf)
