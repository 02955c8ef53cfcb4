"""Rebuild this sample from GO Lab's full exports.

Usage: ``python tests/data/indigo-sample/make_sample.py EXPORTS`` where EXPORTS is a folder holding the 2025-05 and
2025-12 downloads of the INDIGO Impact Bond Dataset in GO Lab's layouts (``EXPORTS/2025-05/all-data-by-type/...``,
``EXPORTS/2025-12/projects/...``); the 2025-12 one is the copy in ``registry/indigo/data``.
"""

import csv
import sys
from pathlib import Path

PROJECTS = {"INDIGO-POJ-0024", "INDIGO-POJ-0035", "INDIGO-POJ-0077", "INDIGO-POJ-0121", "INDIGO-POJ-0170",
            "INDIGO-POJ-0195", "INDIGO-POJ-0340"}
if len(sys.argv) != 2:
    sys.exit(__doc__)
SRC = Path(sys.argv[1])
OUT = Path(__file__).resolve().parent


def copy(src: Path, dst: Path, keep) -> None:  # type: ignore[no-untyped-def]
    with src.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(rows[0])
        writer.writerows(r for r in rows[1:] if keep(dict(zip(rows[0], r, strict=False))))


for layout, pattern in (("2025-12", "{folder}/{name}.csv"), ("2025-05", "all-data-by-type/original_{name}.csv")):
    root = SRC / layout
    orgs: set[str] = set()
    funds: set[str] = set()
    for path in sorted((root / ("projects" if layout == "2025-12" else "all-data-by-type")).glob("*projects*.csv")):
        name = path.stem.removeprefix("original_")
        copy(path, OUT / layout / pattern.format(folder="projects", name=name),
             lambda r: (r.get("ID") or r.get("Project ID")) in PROJECTS)
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for r in csv.DictReader(fh):
                if (r.get("ID") or r.get("Project ID")) in PROJECTS:
                    for key, value in r.items():
                        if key and "Organisation" in key or key and "validator" in key:
                            orgs.update(v.strip() for v in (value or "").split(",") if v.strip())
                    if name == "projects_outcome_funds":
                        funds.add(r["Id"])
    org_src = root / ("organizations/organisations.csv" if layout == "2025-12" else
                      "all-data-by-type/original_organisations.csv")
    copy(org_src, OUT / layout / pattern.format(folder="organizations", name="organisations"),
         lambda r, orgs=orgs: r["ID"] in orgs)
    fund_src = root / ("funds/funds.csv" if layout == "2025-12" else "all-data-by-type/original_funds.csv")
    copy(fund_src, OUT / layout / pattern.format(folder="funds", name="funds"), lambda r, funds=funds: r["ID"] in funds)
