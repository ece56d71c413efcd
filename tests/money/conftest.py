"""tests/money: the money helpers importable by the test modules (a unique module name)."""

import sys
from pathlib import Path

_here = str(Path(__file__).parent)
if _here not in sys.path:
    sys.path.insert(0, _here)
