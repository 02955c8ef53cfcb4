"""An INDIGO cell holding a URL of another scheme than http(s) never becomes a link."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sqlmodel import Session

from registry.indigo.importer import import_export
from registry.services.contracts import get_contract


def test_an_indigo_cell_with_another_scheme_is_left_out_and_reported(
    session: Session, sample_12: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "export"
    shutil.copytree(sample_12, edited)
    sources = edited / "projects" / "projects_sources.csv"
    with sources.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    target = next(r for r in rows if r["Project ID"] == "INDIGO-POJ-0121")
    target["URL - (Value)"] = "javascript:alert(document.cookie)"
    target["Archive URL - (Value)"] = ""
    with sources.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    report = import_export(edited, session=session)
    doc = get_contract(session=session, contract_id="indigo-poj-0121")
    assert doc is not None
    source = next(s for s in doc.sources if s.id == "indigo-" + target["Id"])
    assert source.url is None
    [kept] = [k for k in report.kept_as_text if k.value == "javascript:alert(document.cookie)"]
    assert kept.project == "INDIGO-POJ-0121" and "not an http or https URL" in kept.reason
    assert all(s.url is None or s.url.startswith(("http://", "https://")) for s in doc.sources)
