"""`lagosync doctor` through the CLI, on a real (minimal) workspace."""

from __future__ import annotations

from click.testing import CliRunner

from lagosync.cli import main


def make_workspace(root):
    (root / "plans").mkdir()
    (root / "plans" / "plans.yaml").write_text("taxes: []\n")
    (root / "lagosync.yaml").write_text(
        "environments:\n  prod:\n    api_url: https://lago.invalid\n    api_key_env: LAGOSYNC_TEST_DOCTOR_KEY\n"
    )
    return root


def test_doctor_local_reports_healthy(tmp_path):
    ws = make_workspace(tmp_path)
    result = CliRunner().invoke(main, ["doctor", "-w", str(ws), "-e", "local"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "lagosync doctor: environment 'local' at http://lago.local/api/v1 (embedded emulator)"
    assert lines[1].startswith("  ok    server   Lago 1.51.0 answered /health in ")
    assert lines[2].startswith("  ok    api key  accepted; organization '")
    assert lines[-1] == "healthy"
    assert (ws / ".lagosync" / "local.db").is_file()


def test_doctor_default_environment_is_local(tmp_path):
    result = CliRunner().invoke(main, ["doctor", "-w", str(make_workspace(tmp_path))])
    assert result.exit_code == 0 and "environment 'local'" in result.output


def test_doctor_missing_key_exits_1(tmp_path, monkeypatch):
    monkeypatch.delenv("LAGOSYNC_TEST_DOCTOR_KEY", raising=False)
    result = CliRunner().invoke(main, ["doctor", "-w", str(make_workspace(tmp_path)), "-e", "prod"])
    assert result.exit_code == 1
    assert "FAIL  config   environment 'prod' needs a Lago API key: set the environment variable " \
           "LAGOSYNC_TEST_DOCTOR_KEY" in result.output
    assert result.output.splitlines()[-1] == "not healthy"


def test_doctor_unknown_environment_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["doctor", "-w", str(make_workspace(tmp_path)), "-e", "nope"])
    assert result.exit_code == 1
    assert "error: unknown environment 'nope' (defined in lagosync.yaml: local, prod)" in result.output
    assert "Traceback" not in result.output
