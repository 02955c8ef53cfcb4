from __future__ import annotations

import sys
from pathlib import Path

# The small protocol payoffs live beside the tests (tests/portfolio/payoffs.py).
sys.path.insert(0, str(Path(__file__).parent))
