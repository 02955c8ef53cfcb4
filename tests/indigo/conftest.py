"""INDIGO test data: the full exports in ../shared/data/indigo when present, else the sample under tests/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "indigo-sample"
SHARED = ROOT.parent / "shared" / "data" / "indigo"


def data_root() -> Path:
    """``UTFALL_INDIGO_DATA`` (a folder holding 2025-05/ and 2025-12/) overrides the choice."""
    if os.environ.get("UTFALL_INDIGO_DATA"):
        return Path(os.environ["UTFALL_INDIGO_DATA"])
    return SHARED if (SHARED / "2025-12" / "projects" / "projects.csv").is_file() else SAMPLE


@pytest.fixture(scope="session")
def indigo_root() -> Path:
    return data_root()


@pytest.fixture(scope="session")
def export_12(indigo_root: Path) -> Path:
    return indigo_root / "2025-12"


@pytest.fixture(scope="session")
def export_05(indigo_root: Path) -> Path:
    return indigo_root / "2025-05"


@pytest.fixture(scope="session")
def sample_12() -> Path:
    return SAMPLE / "2025-12"


@pytest.fixture(scope="session")
def sample_05() -> Path:
    return SAMPLE / "2025-05"
