from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fake_github, next to the tests (importlib mode)


@pytest.fixture
def write_json(tmp_path):
    def write(name: str, data) -> Path:
        p = tmp_path / name
        p.write_text(json.dumps(data))
        return p
    return write
