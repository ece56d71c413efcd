"""The README and the reference in docs/ say what lagosync does: these check the statements a
newcomer runs literally (validate's count on the example workspace, the -e default, the JSON kinds
and reason codes, the apply flags, the internal links), so a change on either side shows up here.
The reference moved from README.md into docs/*.md: a statement is looked for in README.md and those
files together, and the links of every one of them must resolve."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.planner import KINDS, REASONS

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The user documentation: README.md and the docs/ files it links. docs/ARCHITECTURE.md (contracts
# for contributors) and docs/lago-behaviour.md (Lago's rules, tests/docs) are link-checked only.
USER_DOCS = [p for p in DOC_FILES if p.name not in ("ARCHITECTURE.md", "lago-behaviour.md")]
README = "\n".join(p.read_text(encoding="utf-8") for p in USER_DOCS)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    for name in ("lagosync.yaml", "orgs.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "plans", tmp_path / "plans")
    return tmp_path


def test_validate_prints_the_count_the_readme_shows(example: Path) -> None:
    shown = re.search(r"Clean: prints `(ok: \d+ objects in \d+ files)`", README)
    assert shown, "README no longer shows validate's clean line"
    result = CliRunner().invoke(main, ["validate", "-w", str(example)])
    assert result.exit_code == 0
    assert result.output.strip() == shown.group(1)


def test_env_defaults_to_default_environment_as_documented(example: Path) -> None:
    assert "(default: `default_environment` of\n`lagosync.yaml`, else `local`)" in README
    settings = example / "lagosync.yaml"
    settings.write_text(settings.read_text().replace("default_environment: local", "default_environment: staging"))
    result = CliRunner().invoke(main, ["plan", "-w", str(example)], env={"LAGO_STAGING_API_KEY": None})
    assert result.exit_code == 1
    assert "environment 'staging' needs a Lago API key" in result.output
    for command in ("plan", "apply", "drift", "import", "doctor"):
        help_text = CliRunner().invoke(main, [command, "--help"]).output
        assert "default_environment" in help_text, command
    assert "the plan's environment" in CliRunner().invoke(main, ["show", "--help"]).output


def test_json_kinds_and_reason_codes_are_all_documented() -> None:
    kinds_row = next(line for line in README.splitlines() if line.startswith("| `operations[].kind`"))
    assert set(re.findall(r"`([a-z_]+)`", kinds_row)) >= set(KINDS)
    reason_rows = "\n".join(line for line in README.splitlines() if line.startswith("| `"))
    for reason in REASONS:
        assert f"`{reason}`" in reason_rows, reason


def test_every_apply_flag_is_in_the_readme_table() -> None:
    help_text = CliRunner().invoke(main, ["apply", "--help"]).output
    flags = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help", "--workspace", "--env"}
    table = "\n".join(line for line in README.splitlines() if line.startswith("| `--"))
    for flag in flags:
        assert f"`{flag}" in table, flag


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(path: Path) -> set[str]:
    slugs, in_code = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#+ ", line):
            slugs.add(_slug(line.lstrip("#")))
    return slugs


def test_internal_links_resolve() -> None:
    assert re.findall(r"\]\(#([^)]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    into_docs = 0
    for source in DOC_FILES:
        text = source.read_text(encoding="utf-8")
        name = source.relative_to(ROOT)
        anchors = re.findall(r"\]\(#([^)]+)\)", text)
        assert [a for a in anchors if a not in _headings(source)] == [], name
        # paths are relative to the file that links them
        for target in re.findall(r"\]\(([^#:)]+)\)", text):
            assert (source.parent / target).exists(), f"{name}: {target}"
        # links into another file's section, e.g. (docs/lago-behaviour.md#plan-locked-fields)
        for target, anchor in re.findall(r"\]\(([^#:)]+)#([^)]+)\)", text):
            assert (source.parent / target).is_file(), f"{name}: {target}"
            assert anchor in _headings(source.parent / target), f"{name}: {target}#{anchor}"
            into_docs += source.name == "README.md" and target.startswith("docs/")
    assert into_docs >= 10, "README links into the reference in docs/"


def test_every_docs_file_is_in_the_readme_documentation_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("\n## Documentation\n"):]
    listed = set(re.findall(r"^\| \[(docs/[\w.-]+\.md)\]\(\1\) \| \S", table, re.M))
    assert listed == {str(p.relative_to(ROOT)) for p in DOC_FILES[1:]}
    assert "<!-- section:quickstart -->" in readme


def test_no_stale_statements() -> None:
    for phrase in ("not yet", "not the default today", "the issue named", "TODO"):
        assert phrase not in README, phrase


def test_ci_runs_the_readme_test_line_with_the_type_checker() -> None:
    lines = [line for line in README.splitlines() if line.startswith('python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]"')]
    assert len(lines) == 2, "the test line is in Quickstart and Development"
    assert lines[0] == lines[1]
    assert "&& .venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/pytest" in lines[0]
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci_run[-1] == lines[0]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "[tool.mypy]" in pyproject and '"mypy' in pyproject


def test_a_create_lists_what_the_user_wrote_and_plan_v_lists_every_field(example: Path) -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `+` | `create` |"))
    assert "`min_amount_cents = 0`, `prorated = false`" in row and "`plan -v`" in row
    short = CliRunner().invoke(main, ["plan", "-w", str(example), "-e", "local", "--no-color"])
    assert short.exit_code == 0, short.output
    full = CliRunner().invoke(main, ["plan", "-w", str(example), "-e", "local", "--no-color", "-v"])
    assert full.exit_code == 0, full.output
    for default in ("min_amount_cents = 0", "prorated = false", "pay_in_advance = false"):
        assert default not in short.output, default
        assert default in full.output, default
    assert "+ amount_cents = 1900" in short.output  # what the workspace writes is shown
    assert set(short.output.splitlines()) < set(full.output.splitlines())
    assert len(full.output.splitlines()) - len(short.output.splitlines()) >= 40  # one default per charge at least


def test_the_ci_statements_match_the_comment(example: Path, tmp_path: Path) -> None:
    from lagosync import ci
    from lagosync.render.markdown import GROUP_FROM

    assert f"a plan of more than {GROUP_FROM} operations\n  is grouped" in README
    assert '"lagosync could not plan this change:"' in README
    error = tmp_path / "error.txt"
    error.write_text("error: something\n")
    result = CliRunner().invoke(main, ["ci", "pr-comment", "--error", str(error), "-w", str(example)])
    assert result.exit_code == 0 and "lagosync could not plan this change:" in result.output
    assert "an environment is for CI when it has an `api_url`, and the embedded\n   emulator `local` only when it " \
           "is the only one" in README
    environments = CliRunner().invoke(main, ["ci", "environments", "-w", str(example)])
    assert [m["environment"] for m in json.loads(environments.output)] == ["staging", "production"]
    assert ci.GITHUB_BODY_LIMIT == 65536
    for flag in ("--dry-run", "--error FILE"):
        assert flag in README, flag
