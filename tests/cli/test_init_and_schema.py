"""`lagosync init`, `lagosync schema` and the modelines: a new user's first workspace, end to end.

Every file init or import writes names its JSON Schema in a yaml-language-server modeline; the
schema must exist at that path relative to the file and the file must validate against it (what an
editor does with it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from lagosync.cli import main
from lagosync.emulator.server import start_in_thread

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")
KEY_VAR = "LAGOSYNC_INIT_TEST_KEY"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def check_modeline(path: Path) -> Path:
    """The schema ``path``'s first line names: it exists, and the file validates against it."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"{path}: no modeline on its first line: {first!r}"
    schema_path = (path.parent / match.group("path")).resolve()
    assert schema_path.is_file(), f"{path}: modeline names {schema_path}, which does not exist"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    errors = list(Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert errors == [], f"{path}: {errors[0].message if errors else ''}"
    return schema_path


def test_init_writes_a_valid_workspace_whose_modelines_resolve(tmp_path):
    ws = tmp_path / "billing"
    res = run("init", str(ws))
    assert res.exit_code == 0, res.output
    assert sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if p.is_file()) == [
        "lagosync.yaml", "orgs.yaml", "plans/plans.yaml", "schemas/lagosync.schema.json",
        "schemas/orgs.schema.json", "schemas/plans.schema.json", "schemas/pricing_tests.schema.json"]
    assert "wrote plans/plans.yaml" in res.stdout and "lagosync validate, then lagosync plan" in res.stdout
    named = {check_modeline(ws / rel).name for rel in ("lagosync.yaml", "orgs.yaml", "plans/plans.yaml")}
    assert named == {"lagosync.schema.json", "orgs.schema.json", "plans.schema.json"}
    settings = yaml.safe_load((ws / "lagosync.yaml").read_text())
    assert settings["environments"] == {"local": {}} and settings["default_environment"] == "local"

    validate = run("validate", "-w", str(ws))
    assert validate.exit_code == 0 and validate.stdout.strip() == "ok: 4 objects in 3 files"
    plan = run("plan", "-w", str(ws), "--no-color")
    assert "Plan: 4 to create, 0 to update" in plan.stdout, plan.output
    assert run("apply", "-w", str(ws), "--auto-approve").exit_code == 0
    assert run("plan", "-w", str(ws), "--detailed-exitcode").exit_code == 0


def test_init_refuses_to_overwrite_without_force(tmp_path):
    ws = tmp_path / "billing"
    ws.mkdir()
    (ws / "orgs.yaml").write_text("orgs: []  # mine\n")
    refused = run("init", str(ws))
    assert refused.exit_code == 1
    assert "already has orgs.yaml: nothing was written; pass --force" in refused.stderr
    assert sorted(p.name for p in ws.iterdir()) == ["orgs.yaml"]
    assert (ws / "orgs.yaml").read_text() == "orgs: []  # mine\n"

    forced = run("init", str(ws), "--force")
    assert forced.exit_code == 0, forced.output
    assert "org_example" in (ws / "orgs.yaml").read_text()
    # a second init finds every file as it would write it: nothing to replace, nothing refused
    (ws / "plans" / "plans.yaml").write_text((ws / "plans" / "plans.yaml").read_text() + "# edited\n")
    again = run("init", str(ws))
    assert again.exit_code == 1 and "already has plans/plans.yaml:" in again.stderr
    assert "lagosync.yaml" not in again.stderr.split("already has")[1]


def test_schema_command_writes_into_the_workspace_found_upward(tmp_path, monkeypatch):
    ws = tmp_path / "billing"
    assert run("init", str(ws)).exit_code == 0
    stale = ws / "schemas" / "plans.schema.json"
    stale.write_text("{}")
    (ws / "schemas" / "orgs.schema.json").unlink()
    (ws / "plans" / "sub").mkdir()
    monkeypatch.chdir(ws / "plans" / "sub")
    res = run("schema")
    assert res.exit_code == 0, res.output
    written = sorted(line.split("/")[-1] for line in res.stdout.splitlines() if line.startswith("wrote "))
    assert written == ["orgs.schema.json", "plans.schema.json"]
    assert "2 schema(s) already up to date" in res.stdout
    assert json.loads(stale.read_text())["$schema"]
    other = tmp_path / "elsewhere"
    assert run("schema", str(other)).exit_code == 0
    assert sorted(p.name for p in other.iterdir()) == sorted(p.name for p in (ws / "schemas").iterdir())


def _second_workspace(tmp_path):
    """An applied `init` workspace, and a second one on the same local Lago holding only lagosync.yaml
    (no schemas yet)."""
    source = tmp_path / "source"
    assert run("init", str(source)).exit_code == 0
    assert run("apply", "-w", str(source), "--auto-approve").exit_code == 0
    target = tmp_path / "target"
    target.mkdir()
    (target / "lagosync.yaml").write_text("default_environment: local\n")
    (target / ".lagosync").symlink_to(source / ".lagosync")
    return target


def test_import_writes_modelines_and_the_missing_schemas(tmp_path):
    target = _second_workspace(tmp_path)
    res = run("import", "-w", str(target))
    assert res.exit_code == 0, res.output
    assert "wrote schemas/plans.schema.json" in res.stdout
    for rel in ("orgs.yaml", "plans/catalog.yaml", "plans/starter.yaml"):
        check_modeline(target / rel)
    assert run("plan", "-w", str(target), "--detailed-exitcode").exit_code == 0


def test_import_select_of_an_object_lago_does_not_have_exits_1(tmp_path):
    target = _second_workspace(tmp_path)
    res = run("import", "-w", str(target), "--select", "plan:startr", "--select", "metric:api_calls",
              "--select", "customer:org_nobody")
    assert res.exit_code == 1
    assert ("error: environment 'local' has no plan 'startr', customer 'org_nobody'; nothing was written"
            in res.stderr)
    assert sorted(p.name for p in target.iterdir()) == [".lagosync", "lagosync.yaml"]
    ok = run("import", "-w", str(target), "--select", "plan:starter")
    assert ok.exit_code == 0 and "wrote plans/starter.yaml" in ok.stdout


@pytest.fixture
def remote_lago(tmp_path, monkeypatch):
    """An HTTP Lago (the emulator over HTTP) holding the example of init, applied through lagosync."""
    server, _ = start_in_thread(host="127.0.0.1", port=0, api_key="sk_init_test_key")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(KEY_VAR, "sk_init_test_key")
    seed = tmp_path / "seed"
    assert run("init", str(seed)).exit_code == 0
    settings = seed / "lagosync.yaml"
    settings.write_text(settings.read_text() + f"  staging:\n    api_url: {url}\n    api_key_env: {KEY_VAR}\n")
    applied = run("apply", "-w", str(seed), "-e", "staging", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    yield url
    server.shutdown()
    server.server_close()


def test_init_from_an_existing_lago_imports_it(tmp_path, remote_lago):
    ws = tmp_path / "adopted"
    res = run("init", str(ws), "--from", "-e", "staging", "--api-url", remote_lago, "--api-key-env", KEY_VAR)
    assert res.exit_code == 0, res.output
    assert "imported 4 object(s)" in res.stdout
    settings = yaml.safe_load((ws / "lagosync.yaml").read_text())
    assert settings["environments"]["staging"] == {"api_url": remote_lago, "api_key_env": KEY_VAR}
    for rel in ("lagosync.yaml", "orgs.yaml", "plans/catalog.yaml", "plans/starter.yaml"):
        check_modeline(ws / rel)
    assert not (ws / "plans" / "plans.yaml").exists()  # the example is not written with --from
    assert run("validate", "-w", str(ws)).exit_code == 0
    assert run("plan", "-w", str(ws), "-e", "staging", "--detailed-exitcode").exit_code == 0
    # a second init --from keeps lagosync.yaml and finds every object declared already
    before = {p: p.read_text() for p in ws.rglob("*.yaml")}
    again = run("init", str(ws), "--from", "-e", "staging")
    assert again.exit_code == 0 and "nothing to import" in again.stdout, again.output
    assert {p: p.read_text() for p in ws.rglob("*.yaml")} == before


def test_init_from_needs_an_environment_it_can_reach(tmp_path):
    res = run("init", str(tmp_path / "a"), "--from")
    assert res.exit_code == 1 and "init --from needs -e ENV" in res.stderr
    res = run("init", str(tmp_path / "b"), "--from", "-e", "production")
    assert res.exit_code == 1 and "pass its URL with --api-url URL" in res.stderr
    assert not (tmp_path / "b").exists()
