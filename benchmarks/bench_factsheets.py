"""Fact sheet rendering speed: seconds per sheet (cold and warm) and for every contract in the registry.

    python benchmarks/bench_factsheets.py                 # the seed contracts, both languages
    python benchmarks/bench_factsheets.py --registry      # every contract in the configured database
    python benchmarks/bench_factsheets.py --repeat 5 --json

Aim (issue): under 0.3 s per sheet once warm on the development machine (2 cores). Rendering only:
the database cache is bypassed, so these are the times of a regeneration.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", action="store_true", help="Use the contracts in the configured database.")
    parser.add_argument("--repeat", type=int, default=3, help="Warm renders per sheet for the per-sheet median.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from registry.schema import ContractDocument
    from web.factsheets import _standalone_app, build_factsheet_pdf

    import_s = time.perf_counter() - t0
    if args.registry:
        from sqlmodel import col, select

        from registry import db
        from registry.models import Contract
        from web.factsheets import display_document

        with db.session_scope() as session:
            ids = session.exec(select(Contract.id).order_by(col(Contract.id))).all()
            docs: list[ContractDocument] = [d for cid in ids
                                            if (d := display_document(session=session, contract_id=cid))]
    else:
        from registry.loader import read_contract_file

        docs = [read_contract_file(p) for p in sorted((ROOT / "seed_contracts").glob("*.yaml"))]

    app = _standalone_app()
    with app.app_context():
        t = time.perf_counter()
        build_factsheet_pdf(docs[0], "sv")
        cold = time.perf_counter() - t

        per_sheet: list[float] = []
        for doc in docs:
            for lang in ("sv", "en"):
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    build_factsheet_pdf(doc, lang)
                    times.append(time.perf_counter() - t)
                per_sheet.append(statistics.median(times))

        t = time.perf_counter()
        for doc in docs:
            for lang in ("sv", "en"):
                build_factsheet_pdf(doc, lang)
        all_s = time.perf_counter() - t

    result = {
        "contracts": len(docs),
        "sheets": 2 * len(docs),
        "import_s": round(import_s, 3),
        "first_sheet_cold_s": round(cold, 3),
        "warm_per_sheet_median_s": round(statistics.median(per_sheet), 3),
        "warm_per_sheet_p90_s": round(sorted(per_sheet)[int(0.9 * (len(per_sheet) - 1))], 3),
        "warm_per_sheet_max_s": round(max(per_sheet), 3),
        "all_sheets_s": round(all_s, 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<26} {value}")


if __name__ == "__main__":
    main()
