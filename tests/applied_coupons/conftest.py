"""Applied coupons: an in-memory emulator environment (see coupon_helpers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from coupon_helpers import new_env  # noqa: E402


@pytest.fixture
def lago(tmp_path):
    return new_env(tmp_path)
