""".github/workflows/ci.yml provides ../shared/lago-openapi/openapi.yaml on GitHub (where the sibling
folder does not exist) before running .ci/run with CI=true.

The step's script is run here as GitHub would run it (bash, the step's env), with a fake `curl` on
PATH that serves a local file: the pinned blob hash accepts the real spec and rejects any other bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / ".." / "shared" / "lago-openapi" / "openapi.yaml").resolve()
SOURCE_MD = SPEC.parent / "SOURCE.md"
STEP_PREFIX = "Provide the Lago OpenAPI spec"


def _spec() -> Path:
    if SPEC.is_file():
        return SPEC
    reason = f"../shared is missing ({SPEC} not found)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; it is required when CI=true (ci.yml fetches it)")
    pytest.skip(reason)


def _steps() -> list[dict]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]["steps"]


def _fetch_step() -> dict:
    (step,) = [s for s in _steps() if str(s.get("name", "")).startswith(STEP_PREFIX)]
    return step


def test_spec_is_provided_before_the_tests_run_with_ci_true():
    steps = _steps()
    names = [s.get("name", s.get("uses")) for s in steps]
    fetch = next(i for i, s in enumerate(steps) if str(s.get("name", "")).startswith(STEP_PREFIX))
    run = next(i for i, s in enumerate(steps) if s.get("run") == "bash .ci/run")
    assert fetch < run, names
    assert steps[run]["env"]["CI"] == "true"


def test_pinned_blob_is_the_spec_the_tests_use():
    env = _fetch_step()["env"]
    spec = _spec()
    blob = subprocess.run(["git", "hash-object", str(spec)], capture_output=True, text=True, check=True).stdout
    assert blob.strip() == env["SPEC_BLOB"]
    # provenance: on the dev machine SOURCE.md names the same commit and blob (GitHub has only the spec)
    if SOURCE_MD.is_file():
        text = SOURCE_MD.read_text()
        assert env["SPEC_COMMIT"] in text and env["SPEC_BLOB"] in text
        assert re.search(r"github\.com/" + re.escape(env["SPEC_REPO"]) + r"\b", text)


def _run_step(tmp_path: Path, served: Path) -> subprocess.CompletedProcess:
    step = _fetch_step()
    work = tmp_path / "work" / "repo"  # like $GITHUB_WORKSPACE: ../shared is its sibling
    work.mkdir(parents=True)
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    log = tmp_path / "curl.log"
    # fake curl: records its arguments, writes the served file to the -o target
    (fakebin / "curl").write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$@" > "{log}"\n'
        'out=""; while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then out="$2"; shift; fi; shift; done\n'
        f'cp "{served}" "$out"\n')
    (fakebin / "curl").chmod(0o755)
    env = {**os.environ, **step["env"], "PATH": f"{fakebin}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=work, env=env, capture_output=True,
                         text=True, timeout=60)
    res.curl_args = log.read_text().split("\n") if log.exists() else []  # type: ignore[attr-defined]
    res.dest = tmp_path / "work" / "shared" / "lago-openapi" / "openapi.yaml"  # type: ignore[attr-defined]
    return res


def test_fetch_step_installs_the_pinned_spec(tmp_path):
    spec = _spec()
    env = _fetch_step()["env"]
    res = _run_step(tmp_path, spec)
    assert res.returncode == 0, res.stdout + res.stderr
    url = f"https://raw.githubusercontent.com/{env['SPEC_REPO']}/{env['SPEC_COMMIT']}/openapi.yaml"
    assert url in res.curl_args
    assert "-f" in "".join(a for a in res.curl_args if a.startswith("-") and not a.startswith("--"))
    assert res.dest.read_bytes() == spec.read_bytes()


def test_fetch_step_rejects_a_spec_with_another_hash(tmp_path):
    spec = _spec()
    other = tmp_path / "other.yaml"
    other.write_bytes(spec.read_bytes().replace(b"1.51.0", b"1.51.1", 1))
    res = _run_step(tmp_path, other)
    assert res.returncode != 0
    assert "expected " + _fetch_step()["env"]["SPEC_BLOB"] in res.stdout
    assert not res.dest.exists()
