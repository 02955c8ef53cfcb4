"""Time the full INDIGO import (2025-12 export) into an empty registry, and a re-import of the same export.

    python benchmarks/bench_indigo_import.py [EXPORT_DIR] [--database URL]

Default: the bundled 2025-12 export (registry/indigo/data, 309 projects) into a fresh SQLite file. Aim: the
cold import within 3 s on the development machine (2 cores). Its floor, measured in the same run, is reading
the export's CSV files (``read_export``), which any import must do; the ratio to it is printed too.
Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import db  # noqa: E402
from registry.indigo import BUNDLED_EXPORT  # noqa: E402
from registry.indigo.importer import import_export  # noqa: E402
from registry.indigo.reader import read_export  # noqa: E402

TARGET_SECONDS = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", nargs="?", default=str(BUNDLED_EXPORT))
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    engine = db.shared_engine(db.normalise_url(url))
    db.migrate(engine)  # not part of the import's time
    read_s = []
    for _ in range(3):
        start = time.perf_counter()
        read_export(Path(args.export))
        read_s.append(time.perf_counter() - start)
    floor = statistics.median(read_s)
    print(f"floor: reading the export's CSV files  {floor:.2f} s (median of 3)")
    timings = {}
    for run in ("cold import", "re-import"):
        start = time.perf_counter()
        with db.session_scope(url, migrate_first=False) as session:
            report = import_export(args.export, session=session)
        timings[run] = time.perf_counter() - start
        print(f"{run}: {timings[run]:.2f} s  {timings[run] / floor:5.1f}x floor  ({len(report.created)} created, "
              f"{len(report.updated)} updated, {len(report.unchanged)} unchanged, "
              f"{report.counts['projects']['read']} projects)")
    verdict = "OK" if timings["cold import"] <= TARGET_SECONDS else "SLOWER THAN TARGET"
    print(f"cold INDIGO import: {timings['cold import']:.2f} s (target <= {TARGET_SECONDS:.0f} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
