"""Time the full INDIGO import (2025-12 export) into an empty registry, and a re-import of the same export.

Usage: python benchmarks/bench_indigo_import.py [EXPORT_DIR] [--database URL]
Default: the bundled 2025-12 export (registry/indigo/data) into a fresh SQLite file. Aim: under 10 seconds on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import db  # noqa: E402
from registry.indigo import BUNDLED_EXPORT  # noqa: E402
from registry.indigo.importer import import_export  # noqa: E402

TARGET_SECONDS = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("export", nargs="?", default=str(BUNDLED_EXPORT))
    parser.add_argument("--database", help="SQLAlchemy URL (default: a new SQLite file)")
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    engine = db.shared_engine(db.normalise_url(url))
    db.migrate(engine)  # not part of the import's time
    timings = {}
    for run in ("first import", "re-import"):
        start = time.perf_counter()
        with db.session_scope(url, migrate_first=False) as session:
            report = import_export(args.export, session=session)
        timings[run] = time.perf_counter() - start
        print(f"{run}: {timings[run]:.2f} s  ({len(report.created)} created, {len(report.updated)} updated, "
              f"{len(report.unchanged)} unchanged, {report.counts['projects']['read']} projects)")
    verdict = "OK" if timings["first import"] < TARGET_SECONDS else "SLOWER THAN TARGET"
    print(f"full INDIGO import: {timings['first import']:.2f} s (target < {TARGET_SECONDS:.0f} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
