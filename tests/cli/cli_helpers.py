"""Shared helpers of tests/cli (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEY_VAR = "LAGOSYNC_CLI_TEST_KEY"
UNSET_VAR = "LAGOSYNC_CLI_TEST_UNSET"


def copy_example(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "plans", root / "plans")
    shutil.copy(REPO / "orgs.yaml", root / "orgs.yaml")
    return root
