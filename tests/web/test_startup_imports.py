"""The ``utfall`` command starts without the heavy libraries it does not need (a real import, in a fresh process).

The time itself is measured by benchmarks/bench_startup.py; here only what is imported, which does not depend on
the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HEAVY = ("scipy", "weasyprint", "pandas")

PROBE = """
import json, sys
{body}
import registry.services.users
print(json.dumps({{
    "heavy": sorted(m for m in {heavy!r} if m in sys.modules),
    "scrypt_hash_made": registry.services.users._dummy_hash.cache_info().currsize > 0,
}}))
"""


def probe(body: str, env: dict[str, str] | None = None) -> dict[str, object]:
    code = PROBE.format(body=body, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_command_loads_no_scipy_weasyprint_or_pandas() -> None:
    assert probe("import web.cli") == {"heavy": [], "scrypt_hash_made": False}


def test_help_loads_no_scipy_weasyprint_or_pandas() -> None:
    body = "from web.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert probe(body) == {"heavy": [], "scrypt_hash_made": False}


def test_contracts_list_loads_no_scipy_weasyprint_or_pandas(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    body = "from web.cli import main\nmain(['contracts', 'list', '--json'], standalone_mode=False)"
    assert probe(body, env) == {"heavy": [], "scrypt_hash_made": False}

