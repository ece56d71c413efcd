"""Make live_helpers importable (pytest runs with --import-mode=importlib) and give fixtures."""

import sys
from pathlib import Path

import pytest

_here = str(Path(__file__).parent)
if _here not in sys.path:
    sys.path.insert(0, _here)

from live_helpers import Emulator, Seeder  # noqa: E402


@pytest.fixture
def emulator():
    emu = Emulator()
    yield emu
    emu.close()


@pytest.fixture
def seed(emulator):
    return Seeder(emulator)
