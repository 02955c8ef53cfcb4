"""The chart primitives: each draws real SVG (parsed here), with escaped text, at the coordinates asked for."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from web import barchart, svg

NS = "{http://www.w3.org/2000/svg}"


def drawn(*parts: str, **frame_options: object) -> ET.Element:
    options: dict = {"css_class": "test-chart", **frame_options}
    return ET.fromstring(svg.frame(200, 100, parts, **options))


def test_frame_is_a_labelled_svg_element_of_the_given_size() -> None:
    root = drawn(label="Payments & costs", background="#ffffff")
    assert root.tag == f"{NS}svg"
    assert root.get("viewBox") == "0 0 200 100"
    assert (root.get("width"), root.get("height")) == ("200", "100")
    assert root.get("class") == "test-chart" and root.get("role") == "img"
    assert root.get("aria-label") == "Payments & costs"
    assert root.find(f"{NS}title").text == "Payments & costs"
    assert root.find(f"{NS}rect").get("fill") == "#ffffff"


def test_a_fluid_frame_fills_its_container() -> None:
    root = drawn(fluid=True, font_size=12)
    assert root.get("width") == "100%" and root.get("height") is None
    assert root.get("font-size") == "12"
    assert root.find(f"{NS}title") is None


def test_text_is_escaped_and_placed() -> None:
    root = drawn(svg.text(10, 20.25, '<img src="x"> & "y"', anchor="end", size=9, weight="bold", rotate=-90))
    text = root.find(f"{NS}text")
    assert text.text == '<img src="x"> & "y"'
    assert root.find(f".//{NS}img") is None
    assert (text.get("x"), text.get("y"), text.get("text-anchor")) == ("10", "20.25", "end")
    assert text.get("font-size") == "9" and text.get("font-weight") == "bold"
    assert text.get("transform") == "rotate(-90 10 20.25)"


def test_a_bar_with_negative_height_grows_upwards() -> None:
    root = drawn(svg.bar(5, 80, 10, -30, fill="#123456", tooltip="a < b"), svg.bar(20, 40, 10, 25, fill="#000"))
    up, down = root.findall(f"{NS}rect")
    assert [up.get(k) for k in ("x", "y", "width", "height", "fill")] == ["5", "50", "10", "30", "#123456"]
    assert up.find(f"{NS}title").text == "a < b"
    assert [down.get(k) for k in ("y", "height")] == ["40", "25"]


def test_line_joins_the_points_and_rule_draws_a_segment() -> None:
    root = drawn(svg.line(np.array([0.0, 10.5, 20.0]), [5, 6.125, 7], stroke="#f00", width=2, dash="6 3"),
                 svg.rule(1, 2, 3, 4, stroke="#0f0"))
    poly = root.find(f"{NS}polyline")
    assert poly.get("points") == "0,5 10.5,6.12 20,7"
    assert (poly.get("fill"), poly.get("stroke"), poly.get("stroke-dasharray")) == ("none", "#f00", "6 3")
    rule = root.find(f"{NS}line")
    assert [rule.get(k) for k in ("x1", "y1", "x2", "y2", "stroke")] == ["1", "2", "3", "4", "#0f0"]
    assert rule.get("stroke-dasharray") is None


def test_marker_is_a_labelled_vertical_line() -> None:
    root = drawn(svg.marker(50, 10, 90, "break-even", colour="#b3261e"))
    line, label = root.find(f"{NS}line"), root.find(f"{NS}text")
    assert [line.get(k) for k in ("x1", "x2", "y1", "y2")] == ["50", "50", "10", "90"]
    assert label.text == "break-even" and label.get("fill") == "#b3261e"


def test_link_and_group_wrap_their_content() -> None:
    root = drawn(svg.group(svg.link(svg.text(0, 0, "Sverige"), "/registry?country=SE&x=1")),
                 svg.group(svg.link(svg.text(0, 0, "none"), None)))
    linked, plain = root.findall(f"{NS}g")
    assert linked.find(f"{NS}a").get("href") == "/registry?country=SE&x=1"
    assert plain.find(f"{NS}a") is None and plain.find(f"{NS}text").text == "none"


def test_scale_maps_the_domain_onto_the_drawing_either_way_up() -> None:
    y = svg.Scale(0.0, 10.0, 100.0, 20.0)
    assert y(0) == 100 and y(10) == 20 and y(2.5) == 80
    np.testing.assert_allclose(y.many([0, 5, 10]), [100, 60, 20])
    flat = svg.Scale(3.0, 3.0, 7.0, 9.0)
    assert flat(3.0) == 7.0 and list(flat.many([1, 2])) == [7.0, 7.0]


def test_axes_draw_a_grid_line_or_tick_and_a_label_per_tick() -> None:
    y = svg.Scale(0, 10, 90, 10)
    x = svg.Scale(0, 10, 20, 180)
    root = drawn(*svg.y_axis([0, 5, 10], y, left=20, right=180, label_of=lambda v: f"{v:g} kr"),
                 *svg.x_axis([0, 10], x, baseline=90, label_of=str, tick_length=0))
    lines = root.findall(f"{NS}line")
    assert [(ln.get("y1"), ln.get("x1"), ln.get("x2")) for ln in lines] == [("90", "20", "180"), ("50", "20", "180"),
                                                                          ("10", "20", "180")]
    labels = [(t.text, t.get("x"), t.get("y")) for t in root.findall(f"{NS}text")]
    assert labels == [("0 kr", "14", "94"), ("5 kr", "14", "54"), ("10 kr", "14", "14"),
                      ("0", "20", "106"), ("10", "180", "106")]


def test_x_axis_draws_tick_marks_below_the_baseline() -> None:
    root = drawn(*svg.x_axis([1.0], svg.Scale(0, 2, 0, 200), baseline=80, label_of=str))
    tick = root.find(f"{NS}line")
    assert [tick.get(k) for k in ("x1", "y1", "x2", "y2")] == ["100", "80", "100", "84"]


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0, 12.6, [0, 5, 10, 15]),
    (0, 10, [0, 2, 4, 6, 8, 10]),
    (-1.2, 4.1, [-2, 0, 2, 4, 6]),
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_nice_ticks_are_round_and_cover_the_range(lo: float, hi: float, expected: list[float]) -> None:
    assert svg.nice_ticks(lo, hi) == expected


def test_bar_charts_are_named_and_a_chart_of_links_is_a_group() -> None:
    """A chart whose bars are links is a group (an image cannot hold links); one without links is an image."""

    linked = ET.fromstring(str(barchart.horizontal_bars(
        [barchart.Bar("Sweden", 3, "3", "/contracts?country=SE"), barchart.Bar("Finland", 2, "2", None)],
        label="Contracts by country")))
    assert linked.get("role") == "group" and linked.get("aria-label") == "Contracts by country"
    assert [a.get("href") for a in linked.iter(f"{NS}a")] == ["/contracts?country=SE"]
    plain = ET.fromstring(str(barchart.columns([barchart.Bar("2020", 5, "5"), barchart.Bar("2021", 1, "1")],
                                               label="Capital by year")))
    assert plain.get("role") == "img" and plain.find(f"{NS}title").text == "Capital by year"
