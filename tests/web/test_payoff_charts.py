"""Payoff charts and timelines of the real seed contracts and INDIGO projects: each chart spans its contract's
meaningful range, says when a price is unknown or nothing is paid, and keeps coinciding lines apart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from registry.indigo.importer import import_export
from registry.indigo.merge import get_display_document
from registry.loader import parse_document, read_contract_file
from registry.payoff import payoff_sweep
from registry.schema import ContractDocument
from tests.registry.factories import contract_dict
from web.charts import BOTTOM, HEIGHT, payoff_chart_svg

SVG = "{http://www.w3.org/2000/svg}"
INDIGO_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "indigo-sample" / "2025-12"


@pytest.fixture
def in_app(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def seed(seed_dir: Path, contract_id: str) -> ContractDocument:
    return read_contract_file(seed_dir / f"{contract_id}.yaml")


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def x_tick_labels(svg: str) -> list[str]:
    """The labels under the x axis (16 units below the plot's bottom edge)."""
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")
            if t.get("y") == str(HEIGHT - BOTTOM + 16) and t.get("text-anchor") == "middle"]


def test_region_stockholm_spans_its_floor_and_cap(in_app: None, seed_dir: Path) -> None:
    doc = seed(seed_dir, "se-region-stockholm-hib-2020")
    sweep = payoff_sweep(doc)
    assert sweep is not None and sweep.share
    assert sweep.x[0] < -0.20 and sweep.x[-1] > 0.10  # the -20 % floor and the +10 % cap, with room on both sides
    assert sweep.x[-1] < 0.5  # not stretched to 100 %: the terms turn only between -20 % and +10 %
    assert float(sweep.investor.min()) == pytest.approx(24e6)  # the floor: SEK 24 m back whatever happens
    assert float(sweep.investor.max()) == pytest.approx(33e6)  # the cap: SEK 33 m
    assert float(sweep.investor[0]) == pytest.approx(24e6) and float(sweep.investor[-1]) == pytest.approx(33e6)
    svg = payoff_chart_svg(doc, "en")
    assert svg is not None
    assert {"-20%", "-10%", "0%", "10%"} <= set(x_tick_labels(svg))
    assert "-0%" not in x_tick_labels(svg)


def test_indigo_share_metrics_span_zero_to_one_hundred_per_cent(in_app: None, session: Session) -> None:
    report = import_export(INDIGO_SAMPLE, session=session)
    session.commit()
    checked = 0
    for contract_id in sorted(report.created):
        doc = get_display_document(session=session, contract_id=contract_id)
        sweep = payoff_sweep(doc) if doc else None
        if sweep is None or sweep.binary or (sweep.metric.unit or "") != "share":
            continue
        checked += 1
        assert sweep.share
        assert sweep.x[0] >= -1.0 and 0.5 <= sweep.x[-1] <= 1.0, (contract_id, sweep.x[0], sweep.x[-1])
        labels = x_tick_labels(payoff_chart_svg(doc, "en") or "")
        assert labels and all(label.endswith("%") and 0 <= float(label[:-1]) <= 100 for label in labels), labels
        assert "0%" in labels and ("100%" in labels or "80%" in labels), (contract_id, labels)
    assert checked >= 1


def test_peterborough_says_its_price_is_unknown(in_app: None, seed_dir: Path) -> None:
    doc = seed(seed_dir, "uk-peterborough-2010")
    sweep = payoff_sweep(doc)
    assert sweep is not None and sweep.derived == ("price_per_event",)
    assert sweep.x[0] == 0.0 and sweep.x[-1] == 1.0  # a share whose payments do not turn with it: 0 to 100 %
    for lang, words in (("en", ["Price unknown", "price_per_event", "Other outcomes held at"]),
                        ("sv", ["Priset okänt", "price_per_event", "Övriga utfall hålls vid"])):
        svg = payoff_chart_svg(doc, lang)
        assert svg is not None
        shown = " ".join(texts(svg))
        for word in words:
            assert word in shown, (lang, word)
    assert "7.5%" in " ".join(texts(payoff_chart_svg(doc, "en") or ""))  # a held share shown as a share


def test_terms_that_never_pay_say_so_instead_of_a_zero_line(in_app: None) -> None:
    data = contract_dict()
    data["outcome_metrics"] = [{"id": "placed", "name": {"en": "People placed"}, "kind": "count",
                                "confidence": "unverified"}]
    data["payment_terms"] = {"confidence": "unverified", "parameters": {"price": {"value": "0"}}, "payments": [
        {"id": "pay", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
         "amount": "price * placed"}]}
    svg = payoff_chart_svg(parse_document(data, "test"), "en")
    assert svg is not None
    assert "No payment at any value of this outcome" in texts(svg)
    assert ET.fromstring(svg).find(f".//{SVG}polyline") is None


def test_norrkoping_payer_line_stays_visible_on_the_investor_line(in_app: None, seed_dir: Path) -> None:
    doc = seed(seed_dir, "se-norrkoping-2016")
    sweep = payoff_sweep(doc)
    assert sweep is not None
    np.testing.assert_allclose(sweep.payer, sweep.investor)  # the municipality pays what the investor gets
    svg = payoff_chart_svg(doc, "en")
    assert svg is not None
    root = ET.fromstring(svg)
    investor, payer = root.findall(f".//{SVG}polyline")
    assert investor.get("stroke-dasharray") is None and payer.get("stroke-dasharray")
    assert float(investor.get("stroke-width") or 0) > 2 * float(payer.get("stroke-width") or 0)
    markers = root.findall(f".//{SVG}circle")
    assert len(markers) >= 8  # the payer's line is marked along its length, not only in the legend
    assert "The outcome payer pays what the investor receives: the two lines coincide." in texts(svg)


def test_timeline_items_are_one_event_each(client: FlaskClient, seeded: list[str]) -> None:
    html = client.get("/contracts/se-norrkoping-2016?lang=sv").get_data(as_text=True)
    timeline = html.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    items = timeline.split("<li ")[1:]
    assert len(items) >= 10
    for item in items:
        # "ev-date" styles the date inside an item (an inline block): an item carrying it would run into the next
        assert 'class="ev ev-date"' not in item and item.count('class="ev-date"') == 1
    assert sum('data-kind="date"' in item for item in items) >= 3
