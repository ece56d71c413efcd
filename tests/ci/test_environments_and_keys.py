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
    assert [m["environment"] for m in matrix] == ["local", "staging", "production"]
    assert matrix[0]["emulator"] is True and matrix[2]["api_key_env"] == "LAGO_API_KEY"
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
