"""The payoff chart: real numbers from the compiled terms, real text, safe escaping, None without terms.

Charts are drawn with the gettext catalogue and the formatting module, so those tests run in the app's context.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from flask import Flask

from registry.loader import parse_document
from registry.payoff import payoff_sweep
from registry.schema import ContractDocument
from tests.registry.factories import contract_dict
from web.charts import payoff_chart_svg

SVG = "{http://www.w3.org/2000/svg}"


def norrkoping_like() -> dict[str, Any]:
    """Activity guarantee (binary) plus savings-based repayment with a premium capped at 20 %."""
    data = contract_dict()
    data["outcome_metrics"] = [
        {"id": "delivered", "name": {"sv": "Insatsen genomförd", "en": "Service delivered"}, "kind": "binary",
         "confidence": "unverified"},
        {"id": "savings", "name": {"sv": "Minskade kostnader för socialtjänsten", "en": "Social-services savings"},
         "unit": "SEK", "kind": "continuous", "measurement": "historical_baseline", "confidence": "unverified"},
        {"id": "school_improved", "name": {"sv": "Förbättrade skolresultat", "en": "Improved school results"},
         "kind": "binary", "confidence": "unverified"},
    ]
    data["payment_terms"] = {
        "confidence": "unverified",
        "parameters": {"C": {"value": "10000000", "confidence": "unverified"}},
        "payments": [
            {"id": "guarantee", "component": "guarantee", "payer": "testkommun", "payee": "investor-ab",
             "amount": "if(delivered, 40% * C, 0)"},
            {"id": "savings_share", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
             "amount": "cap(0.6 * floor(savings, 0), 0.6 * C)"},
            {"id": "premium", "component": "premium", "payer": "testkommun", "payee": "investor-ab",
             "amount": "if(savings > C and school_improved, cap(excess(savings, C), 20% * C), 0)"},
        ],
    }
    data["investments"][0]["committed"] = {"amount": "10000000", "currency": "SEK"}
    return data


def doc_of(data: dict[str, Any]) -> ContractDocument:
    return parse_document(data, "test")


@pytest.fixture
def in_app(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def test_sweep_follows_the_terms_over_a_range_that_shows_every_kink() -> None:
    sweep = payoff_sweep(doc_of(norrkoping_like()))
    assert sweep is not None and not sweep.binary
    assert sweep.metric.id == "savings"
    assert sweep.reference == {"delivered": True, "school_improved": True}
    # The curve stops changing at savings = 12 MSEK (premium cap); the range goes a bit beyond that.
    assert sweep.x[0] == 0.0 and 12e6 < sweep.x[-1] <= 20e6
    at = lambda s: float(np.interp(s, sweep.x, sweep.investor))  # noqa: E731
    assert at(0) == pytest.approx(4e6)
    assert at(5e6) == pytest.approx(4e6 + 3e6)
    assert at(11e6) == pytest.approx(4e6 + 6e6 + 1e6)
    assert float(sweep.investor[-1]) == pytest.approx(12e6)
    # Here the municipality pays everything the investor receives.
    np.testing.assert_allclose(sweep.payer, sweep.investor)
    assert sweep.capital == pytest.approx(10e6)


def test_svg_is_well_formed_with_text_elements_in_both_languages(in_app: None) -> None:
    doc = doc_of(norrkoping_like())
    for lang, words in (("sv", ["Återbetalning till investerare", "Minskade kostnader för socialtjänsten", "mn"]),
                        ("en", ["Investor repayment", "Social-services savings", "Outcome payer cost"])):
        svg = payoff_chart_svg(doc, lang)
        assert svg is not None
        root = ET.fromstring(svg)
        texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
        for word in words:
            assert word in texts
        assert len(list(root.iter(f"{SVG}polyline"))) == 2
        assert "<script" not in svg and "href" not in svg


def test_text_from_the_document_is_escaped(in_app: None) -> None:
    data = norrkoping_like()
    data["outcome_metrics"][1]["name"] = {"en": '<img src="http://127.0.0.1:9/x.png"> & "savings"'}
    svg = payoff_chart_svg(doc_of(data), "en")
    assert svg is not None
    root = ET.fromstring(svg)  # would fail if the markup leaked through
    assert root.find(f".//{SVG}img") is None
    assert "<img" not in svg


def test_binary_only_terms_give_two_bar_groups(in_app: None) -> None:
    data = contract_dict()
    data["outcome_metrics"] = [{"id": "delivered", "name": {"en": "Delivered"}, "kind": "binary",
                                "confidence": "unverified"}]
    data["payment_terms"] = {"confidence": "unverified", "payments": [
        {"id": "pay", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
         "amount": "if(delivered, 6000000, 1000000)"}]}
    sweep = payoff_sweep(doc_of(data))
    assert sweep is not None and sweep.binary
    assert list(sweep.investor) == [1e6, 6e6]
    svg = payoff_chart_svg(doc_of(data), "sv")
    assert svg is not None and "Uppnått" in svg and svg.count("<rect") == 5


def test_rate_outcome_is_swept_within_zero_to_one_past_the_last_band(in_app: None) -> None:
    data = contract_dict()
    data["outcome_metrics"] = [{"id": "rate", "name": {"en": "Restoration rate"}, "kind": "rate",
                                "targets": [{"value": "0.55"}, {"value": "0.65"}], "confidence": "unverified"}]
    data["payment_terms"] = {"confidence": "unverified", "payments": [
        {"id": "pay", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
         "amount": "bands(rate, [0.55, 0.60, 0.65], [0, 0.03, 0.075, 0.12]) * capital"}]}
    sweep = payoff_sweep(doc_of(data))
    assert sweep is not None
    assert sweep.x[0] == 0.0 and 0.65 < sweep.x[-1] <= 1.0
    assert float(sweep.investor[-1]) == pytest.approx(0.12 * 5e6)
    assert "%" in (payoff_chart_svg(doc_of(data), "en") or "")
    # A steep rule would go past 100 % if not capped: a share is never swept beyond 1.
    data["payment_terms"]["payments"][0]["amount"] = "rate * capital"
    sweep = payoff_sweep(doc_of(data))
    assert sweep is not None and sweep.x[-1] == 1.0


def test_no_terms_no_chart(in_app: None) -> None:
    data = contract_dict()
    data.pop("payment_terms")
    assert payoff_chart_svg(doc_of(data), "sv") is None
    empty = copy.deepcopy(contract_dict())
    empty["payment_terms"] = {"confidence": "unverified", "payments": []}
    assert payoff_chart_svg(doc_of(empty), "en") is None
