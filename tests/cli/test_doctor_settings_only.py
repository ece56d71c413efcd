"""doctor reads only lagosync.yaml (workspace.load_settings): a broken catalogue does not stop the
connectivity check; a broken lagosync.yaml is still a clear error."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.errors import WorkspaceError
from lagosync.workspace import load_settings


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_doctor_works_when_plans_are_invalid(ws):
    (ws / "plans" / "broken.yaml").write_text("plans:\n  - code: [unclosed\n")
    (ws / "orgs.yaml").write_text("orgs:\n  - external_id: org_x\n    currency: NOPE\n")
    assert run("validate", "-w", ws).exit_code == 1  # the workspace really is invalid
    result = run("doctor", "-w", ws)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "healthy"
    result = run("doctor", "-w", ws, "-e", "badauth")  # and a real remote check still runs
    assert result.exit_code == 1 and "FAIL  api key  Lago rejected the API key" in result.output


def test_doctor_reports_settings_errors(ws):
    (ws / "lagosync.yaml").write_text("environments:\n  prod:\n    api_url: https://x\n    api_key: sk_live_oops\n")
    result = run("doctor", "-w", ws, "-e", "prod")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "lagosync.yaml:4:5: environments.prod.api_key: api_key holds a literal API key" in result.stderr
    assert "sk_live_oops" not in result.output


def test_doctor_missing_settings_file(tmp_path):
    result = run("doctor", "-w", tmp_path)
    assert result.exit_code == 1
    assert "missing workspace settings file lagosync.yaml" in result.stderr


def test_load_settings_api(ws, tmp_path):
    settings = load_settings(ws)
    assert set(settings.environments) == {"local", "nokey", "closed", "badauth", "html500"}
    assert settings.environments["local"].emulator and settings.org_id_prefix == "org_"
    (tmp_path / "f").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file, not a workspace folder"):
        load_settings(tmp_path / "f")
    (ws / "lagosync.yaml").write_text("default_environment: staging\n")
    with pytest.raises(WorkspaceError, match="unknown environment 'staging'"):
        load_settings(ws)
