"""Fact sheet rendering speed, each figure also as a ratio to a minimal WeasyPrint page rendered in the same run.

    python benchmarks/bench_factsheets.py                 # the seed contracts and the INDIGO 2025-12 export
    python benchmarks/bench_factsheets.py --no-indigo     # the seed contracts only
    python benchmarks/bench_factsheets.py --repeat 5 --json

Aims (issue): warm, at most 0.25 s for Norrköping and 0.5 s for the longest INDIGO sheet on the development
machine (2 cores). Rendering only: the database cache is bypassed, so these are the times of a regeneration.
The longest INDIGO sheets are the ones with the longest full-form HTML (the INDIGO export is imported into a
temporary SQLite database first; that is not timed). Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def warm(render: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` renders after one untimed render."""
    render()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def indigo_documents(export: Path) -> list[Any]:
    """The export's display documents, imported into a temporary SQLite database."""
    from sqlmodel import col, select

    from registry import db
    from registry.indigo.importer import import_export
    from registry.models import Contract
    from web.factsheet_service import display_document

    url = f"sqlite:///{tempfile.mkdtemp(prefix='utfall-bench-')}/indigo.sqlite"
    with db.session_scope(url) as session:
        import_export(export, session=session)
    with db.session_scope(url, migrate_first=False) as session:
        ids = session.exec(select(Contract.id).where(Contract.origin == "indigo").order_by(col(Contract.id))).all()
        return [d for cid in ids if (d := display_document(session=session, contract_id=cid))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="warm renders per sheet for its median (default 3)")
    parser.add_argument("--no-indigo", action="store_true", help="skip the INDIGO sheets")
    from registry.indigo import BUNDLED_EXPORT

    parser.add_argument("--indigo-export", type=Path, default=BUNDLED_EXPORT)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("UTFALL_INSTANCE", tempfile.mkdtemp(prefix="utfall-bench-"))
    os.environ.setdefault("UTFALL_SECRET_KEY", "benchmark-only")

    start = time.perf_counter()
    from weasyprint import HTML

    from registry.loader import SEED_DIR, read_contract_file
    from web import standalone_app
    from web.factsheet_service import build_factsheet_pdf, factsheet_html
    from web.pdf import estimated_pages

    import_s = time.perf_counter() - start
    seeds = [read_contract_file(p) for p in sorted(SEED_DIR.glob("*.yaml"))]
    norrkoping = next(d for d in seeds if d.id == "se-norrkoping-2016")
    indigo = [] if args.no_indigo else indigo_documents(args.indigo_export)

    app = standalone_app()
    result: dict[str, Any] = {"import_s": round(import_s, 3)}
    with app.app_context():
        start = time.perf_counter()
        build_factsheet_pdf(seeds[0], "sv")
        result["first_sheet_cold_s"] = round(time.perf_counter() - start, 3)
        floor = warm(lambda: HTML(string="<p>Hello</p>").write_pdf(), args.repeat)
        result["floor_minimal_page_s"] = round(floor, 4)

        def sheet(doc: Any, lang: str) -> dict[str, Any]:
            seconds = warm(lambda: build_factsheet_pdf(doc, lang), args.repeat)
            return {"id": doc.id, "lang": lang, "s": round(seconds, 3), "ratio": round(seconds / floor, 1),
                    "form": "compact" if estimated_pages(factsheet_html(doc, lang)) > 2 else "full"}

        result["norrkoping"] = [sheet(norrkoping, lang) for lang in ("sv", "en")]
        seed_sheets = [sheet(doc, lang) for doc in seeds for lang in ("sv", "en")]
        result["seeds_warm_median_s"] = round(statistics.median(s["s"] for s in seed_sheets), 3)
        result["seeds_warm_max"] = max(seed_sheets, key=lambda s: s["s"])
        longest = sorted(indigo, key=lambda d: -len(factsheet_html(d, "en")))[:3]
        if longest:
            result["longest_indigo"] = [sheet(doc, "en") for doc in longest]

    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"floor: minimal WeasyPrint page, warm        {floor:7.3f} s")
    print(f"first sheet, cold (fonts, templates)        {result['first_sheet_cold_s']:7.3f} s")

    def line(label: str, s: dict[str, Any], aim: float | None = None) -> None:
        verdict = "" if aim is None else f"  (aim <= {aim} s: {'OK' if s['s'] <= aim else 'SLOWER'})"
        print(f"{label:<44}{s['s']:7.3f} s  {s['ratio']:6.1f}x floor  {s['form']}{verdict}")

    for s in result["norrkoping"]:
        line(f"Norrköping ({s['lang']}), warm", s, 0.25)
    print(f"seed sheets, warm median                    {result['seeds_warm_median_s']:7.3f} s  "
          f"{result['seeds_warm_median_s'] / floor:6.1f}x floor")
    line(f"slowest seed sheet ({result['seeds_warm_max']['id']}/{result['seeds_warm_max']['lang']})",
         result["seeds_warm_max"])
    for s in result.get("longest_indigo", []):
        line(f"long INDIGO sheet {s['id']} (en), warm", s, 0.5)


if __name__ == "__main__":
    main()
