"""The boundary conversion of ``web.map_build`` on hand-made geometry (the download itself needs the network)."""

from __future__ import annotations

import struct

import numpy as np

from web.map_build import municipalities, simplify, wkb_polygons


def wkb_polygon(rings: list[list[tuple[float, float]]], little: bool = True) -> bytes:
    order = "<" if little else ">"
    out = bytes([1 if little else 0]) + struct.pack(order + "II", 3, len(rings))
    for ring in rings:
        out += struct.pack(order + "I", len(ring)) + b"".join(struct.pack(order + "dd", *p) for p in ring)
    return out


SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
SPECK = [(5.0, 5.0), (5.01, 5.0), (5.01, 5.01), (5.0, 5.0)]


def test_wkb_polygons_and_multipolygons_in_either_byte_order() -> None:
    (polygon,) = wkb_polygons(wkb_polygon([SQUARE]))
    assert polygon[0].tolist() == [list(p) for p in SQUARE]
    multi = bytes([0]) + struct.pack(">II", 6, 2) + wkb_polygon([SQUARE], little=False) + wkb_polygon([SPECK])
    polygons = wkb_polygons(multi)
    assert len(polygons) == 2 and polygons[1][0].shape == (4, 2)


def test_simplify_keeps_corners_and_drops_points_within_tolerance() -> None:
    line = np.array([[0, 0], [1, 0.001], [2, 0], [2, 1], [2.001, 2], [2, 3]], dtype=float)
    assert simplify(line, 0.01).tolist() == [[0, 0], [2, 0], [2, 3]]
    assert len(simplify(line, 0.0001)) == len(line)


def test_municipalities_keep_outer_rings_and_leave_out_specks() -> None:
    geometry = bytes([1]) + struct.pack("<II", 6, 2) + wkb_polygon([SQUARE]) + wkb_polygon([SPECK])
    (found,) = municipalities({"kommun_kod": ["0581"], "kommun": ["Norrköping"], "geometry": [geometry]})
    assert found["code"] == "0581" and found["name"] == "Norrköping"
    assert found["rings"] == [[list(p) for p in SQUARE]]
