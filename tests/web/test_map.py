"""The world map: the shipped boundaries decoded and projected, and the page linking each country to its contracts."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from registry.services.contracts import contracts_per_country
from web import worldmap


def bounds(code: str) -> tuple[float, float, float, float]:
    """(min x, min y, max x, max y) of a country's outline on the map."""
    shape = next(s for s in worldmap.shapes()[0] if s.code == code)
    numbers = np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.path)]).reshape(-1, 2)
    return (*numbers.min(axis=0), *numbers.max(axis=0))


def test_natural_earth_projection_known_points() -> None:
    x, y = worldmap._natural_earth(np.array([0.0, 180.0, 0.0]), np.array([0.0, 0.0, 90.0]))
    assert x[0] == 0 and y[0] == 0
    assert x[1] == pytest.approx(0.8707 * math.pi)  # the equator's half-length
    assert y[2] == pytest.approx(1.42239, abs=1e-5)  # the pole, as d3-geo-projection's naturalEarth1Raw gives it
    _, ys = worldmap._natural_earth(np.zeros(181), np.linspace(-90, 90, 181))
    assert np.all(np.diff(ys) > 0)  # parallels never cross


def test_topojson_arcs_are_undone_from_deltas_and_reversed_by_negative_index() -> None:
    topology = {"transform": {"scale": [0.5, 2.0], "translate": [10.0, -5.0]},
                "arcs": [[[0, 0], [2, 0], [0, 1]], [[0, 0], [2, 1]]]}
    arcs = worldmap._arcs(topology)
    assert arcs[0].tolist() == [[10.0, -5.0], [11.0, -5.0], [11.0, -3.0]]
    assert arcs[1].tolist() == [[10.0, -5.0], [11.0, -3.0]]
    ring = worldmap._ring([0, ~1], arcs)  # arc 1 reversed runs from (11, -3) back to (10, -5)
    assert ring.tolist() == [[10.0, -5.0], [11.0, -5.0], [11.0, -3.0], [10.0, -5.0]]


def test_a_ring_across_the_antimeridian_is_drawn_as_its_two_sides() -> None:
    ring = np.array([[170.0, 60.0], [180.0, 60.0], [-180.0, 60.0], [-170.0, 60.0], [-170.0, 70.0],
                     [-180.0, 70.0], [180.0, 70.0], [170.0, 70.0], [170.0, 60.0]])
    pieces = worldmap._split_at_antimeridian(ring)
    assert len(pieces) == 2
    assert {bool(np.all(p[:, 0] > 0)) for p in pieces} == {True, False}
    for piece in pieces:
        assert np.all(np.abs(np.diff(piece[:, 0])) <= 180)
    assert len(worldmap._split_at_antimeridian(ring[:2])) == 1


def test_shipped_boundaries_put_countries_where_they_are() -> None:
    shapes, height = worldmap.shapes()
    codes = {s.code for s in shapes}
    assert {"SE", "NO", "FI", "DK", "GB", "US", "AU", "XK"} <= codes and "AQ" not in codes
    assert 0.4 < height / worldmap.WIDTH < 0.6
    se, no, fi, de, au = (bounds(c) for c in ("SE", "NO", "FI", "DE", "AU"))
    assert no[0] < se[0] < fi[0]  # west to east
    assert se[3] < de[1]  # Sweden wholly north of Germany (y grows downwards)
    assert au[1] > se[3] and au[0] > se[2]  # Australia south-east of Sweden
    ru = bounds("RU")
    assert ru[2] - ru[0] < worldmap.WIDTH  # split at the antimeridian, not drawn across the whole map


def test_colours_classes_and_legend_agree() -> None:
    assert worldmap.colour(0) == worldmap.NO_CONTRACTS
    assert [worldmap.colour(n) for n in (1, 2, 4, 5, 9, 10, 49, 50, 900)] == [
        "#c6dbef", "#9ecae1", "#9ecae1", "#6baed6", "#6baed6", "#3182bd", "#3182bd", "#08519c", "#08519c"]


class _Map(HTMLParser):
    """The map's linked countries (href per data-country) and all the countries it draws."""

    def __init__(self) -> None:
        super().__init__()
        self.link: str | None = None
        self.linked: dict[str, str] = {}
        self.drawn: set[str] = set()
        self.rows: dict[str, str] = {}
        self.row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self.link = values.get("href")
            if self.row and self.link:
                self.rows[self.row] = self.link
        elif tag == "tr":
            self.row = values.get("data-country")
        elif tag == "path" and values.get("data-country"):
            code = str(values["data-country"])
            self.drawn.add(code)
            if self.link:
                self.linked[code] = self.link

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.link = None
        if tag == "tr":
            self.row = None


@pytest.mark.parametrize(("lang", "sweden"), [("sv", "Sverige"), ("en", "Sweden")])
def test_map_links_every_country_with_contracts_to_its_registry_filter(
        app: Flask, client: FlaskClient, engine: Engine, seeded: list[str], lang: str, sweden: str) -> None:
    with Session(engine) as s:
        counts = contracts_per_country(session=s)
    assert counts.get("SE", 0) >= 3 and len(counts) >= 3
    response = client.get(f"/map?lang={lang}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = _Map()
    page.feed(html)
    drawn = worldmap.drawn_countries()
    for code in counts:
        href = f"/contracts?country={code}"
        assert page.rows[code] == href  # the table lists every country with contracts
        if code in drawn:
            assert page.linked[code] == href
    assert set(page.linked) == set(counts) & drawn  # countries without contracts are not links
    assert page.drawn == drawn
    se = counts["SE"]
    assert re.search(rf"<title>{sweden}: {se} (kontrakt|contracts)</title>", html)
    registry = client.get(f"{page.linked['SE']}&lang={lang}").get_data(as_text=True)
    assert "/contracts/se-norrkoping-2016" in registry
    assert "/contracts/uk-peterborough-2010" not in registry


def test_overview_links_to_the_map(client: FlaskClient, seeded: list[str]) -> None:
    assert 'href="/map"' in client.get("/?lang=sv").get_data(as_text=True)


def test_map_of_an_empty_registry(client: FlaskClient) -> None:
    response = client.get("/map?lang=en")
    assert response.status_code == 200
    assert "<a href=\"/contracts?country=" not in response.get_data(as_text=True)


# --- Sweden by municipality --------------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "municipality"), [
    ("Norrköpings kommun (Östergötland)", "Norrköping"),
    ("Stockholms stad, Hässelby-Vällingby stadsdelsområde", "Stockholm"),
    ("Botkyrka kommun (Stockholms län)", "Botkyrka"),
    ("Upplands Väsby", "Upplands Väsby"),
    ("Sala kommun", "Sala"),
    ("Salabyn", None),  # a name is matched as a word, not as the start of another
    ("Region Stockholm", None),  # a region (county council), not a municipality
    ("Finland (national)", None),
    (None, None),
])
def test_a_region_places_a_contract_in_the_municipality_it_names(region: str | None,
                                                                  municipality: str | None) -> None:
    _shapes, names, _height = worldmap.sweden_shapes()
    code = worldmap.municipality_of(region, names)
    assert (names[code] if code else None) == municipality


def test_sweden_has_its_290_municipalities_where_they_are() -> None:
    shapes, names, height = worldmap.sweden_shapes()
    assert len(shapes) == len(names) == 290
    assert height > 2 * worldmap.SWEDEN_WIDTH  # a tall country
    boxes = {}
    for shape in shapes:
        numbers = np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.path)]).reshape(-1, 2)
        boxes[names[shape.code]] = (*numbers.min(axis=0), *numbers.max(axis=0))
    assert boxes["Kiruna"][3] < boxes["Stockholm"][1] < boxes["Malmö"][1]  # north to south
    assert boxes["Göteborg"][2] < boxes["Stockholm"][0] < boxes["Gotland"][0]  # west to east


def test_map_places_swedish_contracts_by_municipality(client: FlaskClient, seeded: list[str]) -> None:
    html = client.get("/map?lang=sv").get_data(as_text=True)
    sweden = html.split('class="sweden-map"', 1)[1].split("</svg>", 1)[0]
    links = dict(re.findall(r'<a href="([^"]+)" aria-label="([^"]+)">', sweden))
    by_name = {label.split(":")[0]: href for href, label in links.items()}
    assert {"Norrköping", "Botkyrka", "Stockholm", "Härnösand", "Örnsköldsvik"} <= set(by_name)
    registry = client.get(by_name["Norrköping"].replace("&amp;", "&")).get_data(as_text=True)
    assert "/contracts/se-norrkoping-2016" in registry and "/contracts/se-botkyrka-2018" not in registry
    unplaced = html.split("Inte placerade på kartan", 1)[1].split("</p>", 1)[0]
    assert "/contracts/se-region-stockholm-hib-2020" in unplaced
