"""Fixtures for workspace tests: small workspaces written into tmp_path."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

MINIMAL_SETTINGS = "default_environment: local\n"

# A small valid catalog that rule fixtures extend.
BASE_PLANS = """\
billable_metrics:
  - code: api_call
    name: API calls
    aggregation_type: count_agg
    filters:
      - key: model
        values: [small, large]
plans:
  - code: starter
    name: Starter
    interval: monthly
    amount_cents: 1900
    amount_currency: USD
    charges:
      - billable_metric_code: api_call
        charge_model: standard
        properties:
          amount: "0.001"
"""


def write_workspace(root: Path, plans: dict[str, str] | None = None, orgs: str | None = None,
                    settings: str | None = MINIMAL_SETTINGS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if settings is not None:
        (root / "lagosync.yaml").write_text(textwrap.dedent(settings))
    if plans is not None:
        (root / "plans").mkdir(exist_ok=True)
        for name, text in plans.items():
            (root / "plans" / name).write_text(textwrap.dedent(text))
    if orgs is not None:
        (root / "orgs.yaml").write_text(textwrap.dedent(orgs))
    return root


@pytest.fixture
def make_ws(tmp_path):
    def make(plans=None, orgs=None, settings=MINIMAL_SETTINGS, name="ws"):
        return write_workspace(tmp_path / name, plans, orgs, settings)
    return make


@pytest.fixture
def example_copy(tmp_path) -> Path:
    """A copy of the example workspace at the repository root."""
    dest = tmp_path / "example"
    dest.mkdir()
    shutil.copy(REPO / "lagosync.yaml", dest / "lagosync.yaml")
    shutil.copy(REPO / "orgs.yaml", dest / "orgs.yaml")
    shutil.copytree(REPO / "plans", dest / "plans")
    return dest


@pytest.fixture
def base_plans() -> str:
    return BASE_PLANS
