"""Tables sent as files: CSV in the reader's convention, or Excel; text cells made safe for spreadsheets."""

from __future__ import annotations

from io import BytesIO

import pandas as pd
from flask import send_file
from flask.typing import ResponseReturnValue

from registry.spreadsheet import safe_frame

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def frame_download(frame: pd.DataFrame, fmt: str, *, lang: str, name: str, sheet: str) -> ResponseReturnValue:
    """``frame`` as ``name.csv`` or ``name.xlsx`` (``fmt``), an attachment."""
    frame = safe_frame(frame)
    buffer = BytesIO()
    if fmt == "csv":
        # Swedish Excel opens ';'-separated files with decimal commas directly; English readers get plain CSV.
        if lang == "sv":
            frame.to_csv(buffer, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        else:
            frame.to_csv(buffer, index=False, encoding="utf-8")
        mimetype = "text/csv"
    else:
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False, sheet_name=sheet)
        mimetype = XLSX
    buffer.seek(0)
    return send_file(buffer, mimetype=mimetype, as_attachment=True, download_name=f"{name}.{fmt}")


def workbook_download(frames: dict[str, pd.DataFrame], *, name: str) -> ResponseReturnValue:
    """``frames`` as one Excel workbook ``name.xlsx``, a sheet per frame (named by its key), an attachment."""
    buffer = BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for sheet, frame in frames.items():
            safe_frame(frame).to_excel(writer, index=False, sheet_name=sheet[:31])
    buffer.seek(0)
    return send_file(buffer, mimetype=XLSX, as_attachment=True, download_name=f"{name}.xlsx")
