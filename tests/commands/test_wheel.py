"""The built wheel, installed (not editable) into a fresh virtual environment from the lock, works on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a new virtual environment holding only the wheel and its locked dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    uv = (sys.executable, "-m", "uv")
    run(*uv, "build", "--wheel", "--quiet", "--out-dir", tmp / "dist", ROOT, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("utfall-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "registry/indigo/data/README.md" in names
    assert "registry/indigo/data/2025-12/projects/projects.csv" in names
    assert "seed_contracts/se-norrkoping-2016.yaml" in names
    assert "registry/migrations/env.py" in names
    run(*uv, "venv", "--quiet", "--python", sys.executable, tmp / "venv", cwd=tmp)
    run(*uv, "pip", "install", "--quiet", "--python", tmp / "venv" / "bin" / "python", "-c", ROOT / "constraints.txt",
        wheel, cwd=tmp)
    return tmp / "venv" / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UTFALL_", "DATABASE_URL", "VIRTUAL_ENV", "PYTHON"))}
    return env | extra


def test_installed_package_keeps_its_database_in_the_working_folder(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # The wheel's own code runs, not this checkout's.
    where = run(installed / "python", "-c", "import registry; print(registry.__file__)", cwd=work, env=clean_env())
    assert "site-packages" in where and not where.startswith(str(ROOT))

    out = run(installed / "utfall", "import", "indigo", "--no-progress", cwd=work, env=clean_env())
    assert "contracts: 320 created" in out  # the snapshot shipped inside the package
    out = run(installed / "utfall", "seed", cwd=work, env=clean_env())
    assert "16 created, 0 updated, 0 unchanged" in out
    assert (work / "instance" / "utfall.sqlite").is_file()
    site_packages = installed.parent / "lib"
    assert not list(site_packages.rglob("utfall.sqlite")) and not list(site_packages.rglob("instance"))

    elsewhere = tmp_path / "elsewhere"
    out = run(installed / "utfall", "seed", cwd=work, env=clean_env(UTFALL_INSTANCE=str(elsewhere)))
    assert out.startswith("16 created")  # a new, empty database in the configured folder: nothing to reconcile
    assert (elsewhere / "utfall.sqlite").is_file()
