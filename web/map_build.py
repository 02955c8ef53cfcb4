"""Regenerate the map's country boundaries (``web/map_data/countries-110m.json``) from npm's ``world-atlas``.

Run ``python -m web.map_build`` (needs ``npm`` on the PATH). It downloads the pinned ``world-atlas`` package
with ``npm pack`` into a temporary folder, checks the archive's integrity against the one npm records, checks
that the file is a TopoJSON topology with a ``countries`` collection, and copies ``countries-110m.json`` and the
package's licence next to this module's data, unchanged. ``--version`` takes another release of the package.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "world-atlas"
VERSION = "2.0.2"
DATA = Path(__file__).resolve().parent / "map_data"
FILES = {"package/countries-110m.json": "countries-110m.json", "package/LICENSE": "LICENSE-world-atlas"}


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION, help=f"world-atlas release (default {VERSION})")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to download world-atlas")
    for path in fetch(args.version, DATA):
        print(f"wrote {path.relative_to(DATA.parent.parent)}")


if __name__ == "__main__":
    main()
