"""`lagosync ci environments` (the job matrix) and `lagosync ci export-api-key` (secrets -> env)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from gha_runner import _read_kv_file, copy_workspace

from lagosync.cli import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = "lago_live_key_do_not_print_9f8e7d"


def test_environments_matrix_all_or_selected(tmp_path):
    ws = copy_workspace(ROOT, tmp_path / "ws")
    runner = CliRunner()
    res = runner.invoke(main, ["ci", "environments", "-w", str(ws)])
    assert res.exit_code == 0, res.output
    matrix = json.loads(res.output)
    # the environments with an api_url; the embedded emulator only when asked (below) or alone
    assert [m["environment"] for m in matrix] == ["staging", "production"]
    assert matrix[1]["api_key_env"] == "LAGO_API_KEY" and not any(m["emulator"] for m in matrix)
    res = runner.invoke(main, ["ci", "environments", "-w", str(ws), "--only", "local"])
    assert res.exit_code == 0 and json.loads(res.output) == [{"environment": "local", "api_key_env": "",
                                                              "emulator": True}]
    out = tmp_path / "gh_output"
    res = runner.invoke(main, ["ci", "environments", "-w", str(ws), "--only", "production, staging",
                               "--github-output"], env={"GITHUB_OUTPUT": str(out)})
    assert res.exit_code == 0, res.output
    assert [m["environment"] for m in json.loads(_read_kv_file(out)["matrix"])] == ["production", "staging"]
    res = runner.invoke(main, ["ci", "environments", "-w", str(ws), "--only", "prod"])
    assert res.exit_code == 1 and "unknown environment(s) prod" in res.output and "production" in res.output


def test_export_api_key_writes_github_env_and_never_prints_the_key(tmp_path):
    ws = copy_workspace(ROOT, tmp_path / "ws")
    gh_env = tmp_path / "gh_env"
    gh_env.write_text("")
    runner = CliRunner()
    res = runner.invoke(main, ["ci", "export-api-key", "-w", str(ws), "-e", "staging"],
                        env={"GITHUB_ENV": str(gh_env), "LAGOSYNC_API_KEY": SECRET})
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output and "LAGO_STAGING_API_KEY" in res.output
    assert _read_kv_file(gh_env) == {"LAGO_STAGING_API_KEY": SECRET}

    res = runner.invoke(main, ["ci", "export-api-key", "-w", str(ws), "-e", "local"],
                        env={"GITHUB_ENV": str(gh_env), "LAGOSYNC_API_KEY": ""})
    assert res.exit_code == 0 and "needs no API key" in res.output

    res = runner.invoke(main, ["ci", "export-api-key", "-w", str(ws), "-e", "production"],
                        env={"GITHUB_ENV": str(gh_env), "LAGOSYNC_API_KEY": ""})
    assert res.exit_code == 1
    assert "set the secret LAGO_API_KEY" in res.output and "Traceback" not in res.output

    res = runner.invoke(main, ["ci", "export-api-key", "-w", str(ws), "-e", "production"],
                        env={"GITHUB_ENV": str(gh_env), "LAGOSYNC_API_KEY": SECRET + "\ninjected=1"})
    assert res.exit_code == 1 and "line break" in res.output and SECRET not in res.output
    assert "injected" not in gh_env.read_text()


def test_environments_of_a_workspace_with_only_local_is_local(tmp_path):
    """A starter workspace (lagosync init: `local` alone, or no environment at all) still gets a plan comment."""
    ws = copy_workspace(ROOT, tmp_path / "ws")
    for text in ("default_environment: local\nenvironments:\n  local: {}\n", "default_environment: local\n"):
        (ws / "lagosync.yaml").write_text(text)
        res = CliRunner().invoke(main, ["ci", "environments", "-w", str(ws)])
        assert res.exit_code == 0, res.output
        assert [m["environment"] for m in json.loads(res.output)] == ["local"]


def test_ci_env_options_default_to_default_environment(tmp_path):
    ws = copy_workspace(ROOT, tmp_path / "ws")
    settings = ws / "lagosync.yaml"
    settings.write_text(settings.read_text().replace("default_environment: local", "default_environment: staging"))
    gh_env = tmp_path / "gh_env"
    gh_env.write_text("")
    runner = CliRunner()
    res = runner.invoke(main, ["ci", "export-api-key", "-w", str(ws)],
                        env={"GITHUB_ENV": str(gh_env), "LAGOSYNC_API_KEY": SECRET})
    assert res.exit_code == 0, res.output
    assert "environment 'staging'" in res.output and _read_kv_file(gh_env) == {"LAGO_STAGING_API_KEY": SECRET}
    error = tmp_path / "error.txt"
    error.write_text("error: something failed\n")
    res = runner.invoke(main, ["ci", "pr-comment", "--error", str(error), "-w", str(ws)])
    assert res.exit_code == 0 and res.output.startswith("<!-- lagosync:plan:staging -->"), res.output
    for command in (["ci", "export-api-key"], ["ci", "pr-comment"], ["ci", "github", "pr-comment"],
                    ["ci", "github", "fetch-plan"]):
        help_text = runner.invoke(main, [*command, "--help"]).output
        assert "default_environment" in help_text, command
