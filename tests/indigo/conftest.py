"""INDIGO test data: the full 2025-12 export shipped with the package, and a seven-project sample in both layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.indigo import BUNDLED_EXPORT

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "indigo-sample"


@pytest.fixture(scope="session")
def export_12() -> Path:
    """GO Lab's whole 2025-12 export (320 projects), as bundled in ``registry/indigo/data``."""
    return BUNDLED_EXPORT


@pytest.fixture(scope="session")
def sample_12() -> Path:
    return SAMPLE / "2025-12"


@pytest.fixture(scope="session")
def sample_05() -> Path:
    """The 2025-05 layout; only the sample is kept (tests/data/indigo-sample/README.md)."""
    return SAMPLE / "2025-05"
