"""Hostile workspace files: alias bombs, deep nesting, huge files, devices and unsafe tags are
refused with a ``file:line:`` diagnostic, quickly and without building the expanded document."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile_helpers import assert_no_crash, example_workspace, invoke, within

from lagosync.workspace import yamlpos
from lagosync.workspace.yamlpos import MAX_ALIAS_VALUES, MAX_DEPTH, parse_yaml

# "billion laughs": 9 lines, 9**9 (387 million) strings once expanded
BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
) + "\n"


@pytest.mark.parametrize("target", ["lagosync.yaml", "orgs.yaml", "plans/plans.yaml", "plans/bomb.yaml"])
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_an_alias_bomb_in_any_file_is_a_diagnostic_not_a_hang(tmp_path: Path, target: str, command: str) -> None:
    root = example_workspace(tmp_path / "ws")
    (root / target).write_text(BOMB)
    result = within(20, lambda: invoke(command, "-w", root))
    assert_no_crash(result)
    assert result.exit_code == 1
    lines = [line.removeprefix("error: ") for line in result.stderr.splitlines() if "aliases" in line]
    assert len(lines) == 1, result.stderr
    # line 6 is where the first value too large to expand sits (f: 9**6 strings and its lists)
    assert lines[0].startswith(f"{target}:6:4: f: YAML aliases expand this value to 597,871 values "
                               "(the whole file to 490,329,064)"), lines[0]
    assert f"aliases may add at most {MAX_ALIAS_VALUES:,} values to a file" in lines[0]


def test_the_bomb_is_refused_before_anything_is_built() -> None:
    doc, errors = parse_yaml(BOMB, "f.yaml")
    assert len(errors) == 1 and doc.data is None
    assert doc.positions == {}  # no value of the expansion was built


def test_a_merge_key_bomb_is_refused_too() -> None:
    text = "m0: &m0 {a: 1, b: 2, c: 3}\n" + "".join(
        f"m{i}: &m{i} {{<<: [*m{i - 1}], k: [{', '.join([f'*m{i - 1}'] * 8)}]}}\n" for i in range(1, 10))
    doc, errors = parse_yaml(text, "f.yaml")
    assert len(errors) == 1
    assert errors[0].message.startswith("YAML aliases expand this value to ")
    assert (errors[0].line, errors[0].path) == (6, "m5.k")
    assert doc.positions == {}


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    text = ("defaults: &d {amount: '1', free_units: 10}\n"
            "a: [*d, *d]\n"
            "b: {<<: *d, amount: '2'}\n")
    doc, errors = parse_yaml(text, "f.yaml")
    assert errors == []
    assert doc.data["a"] == [{"amount": "1", "free_units": 10}] * 2
    assert doc.data["b"]["free_units"] == 10


def test_many_aliases_in_a_large_file_are_allowed_up_to_ten_times_what_is_written() -> None:
    # 12,000 orgs each repeating a 9-value anchor: 108,000 values from aliases, under 10x written
    text = "base: &b {currency: USD, country: US, a: 1, b: 2}\norgs:\n" + "".join(
        f"  - {{external_id: org_{i}, name: N{i}, extra: *b}}\n" for i in range(12_000))
    doc, errors = parse_yaml(text, "orgs.yaml")
    assert errors == []
    assert len(doc.data["orgs"]) == 12_000 and doc.data["orgs"][-1]["extra"]["b"] == 2
    assert 12_000 * 9 > MAX_ALIAS_VALUES


def test_a_self_referencing_alias_is_a_diagnostic() -> None:
    doc, errors = parse_yaml("a: &a [1, *a]\n", "f.yaml")
    assert [e.format() for e in errors] == [
        "f.yaml:1:4: a[1]: recursive YAML structure: an alias refers to a value that contains it "
        "(remove the self-referencing alias)"]


@pytest.mark.parametrize("text, line, col", [
    # the node one level too deep: the column of its bracket, its key's line and column
    ("plans: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", 1, 8 + MAX_DEPTH - 1),
    ("plans: " + "[" * 100_000 + "]" * 100_000 + "\n", 1, 1007),  # libyaml's own limit (1000 levels)
    ("plans:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(MAX_DEPTH + 10)), MAX_DEPTH + 1, MAX_DEPTH + 1),
    ("- " * 5000 + "x\n", 1, 1999),  # libyaml: the 1000th level
])
def test_deep_nesting_is_refused_at_its_line(text: str, line: int, col: int) -> None:
    doc, errors = within(20, lambda: parse_yaml(text, "f.yaml"))
    assert len(errors) == 1
    assert errors[0].message == f"YAML nested more than {MAX_DEPTH} levels deep"
    assert (errors[0].line, errors[0].column) == (line, col)
    assert len(errors[0].format()) < 200  # the path is shortened, one readable line


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = MAX_DEPTH - 1
    doc, errors = parse_yaml("a: " + "[" * depth + "1" + "]" * depth + "\n", "f.yaml")
    assert errors == []
    value = doc.data["a"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == [1]


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = example_workspace(tmp_path / "ws")
    monkeypatch.setattr(yamlpos, "MAX_FILE_BYTES", 4096)
    (root / "plans" / "big.yaml").write_text("taxes:\n" + "  - {code: t, name: T, rate: '1'}\n" * 400)
    result = invoke("validate", "-w", root)
    assert_no_crash(result)
    assert "plans/big.yaml:1:1: file is larger than 4,096 bytes (" in result.stderr


def test_the_file_limit_is_32_mib_and_documented() -> None:
    assert yamlpos.MAX_FILE_BYTES == 32 * 1024 * 1024
    root = Path(__file__).resolve().parents[2]  # README.md and the reference in docs/ (docs/workspace.md)
    readme = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    assert "32 MiB" in readme and f"{MAX_DEPTH} levels" in readme and f"{MAX_ALIAS_VALUES:,}" in readme


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_orgs_yaml_linked_to_a_device_is_refused_not_read_forever(tmp_path: Path) -> None:
    root = example_workspace(tmp_path / "ws")
    (root / "orgs.yaml").unlink()
    (root / "orgs.yaml").symlink_to("/dev/zero")
    result = within(20, lambda: invoke("validate", "-w", root))
    assert_no_crash(result)
    assert "orgs.yaml:1:1: not a regular file (replace it with a YAML file)" in result.stderr


@pytest.mark.parametrize("value, shown", [
    ("!!python/object/apply:os.system ['touch PWNED']", "!!python/object/apply:os.system"),
    ("!!python/object:builtins.dict {a: 1}", "!!python/object:builtins.dict"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!!binary aGVsbG8=", "!!binary"),
    ("!!set {a, b}", "!!set"),
    ("!Ref other", "!Ref"),
])
def test_unsafe_or_unknown_tags_are_refused(tmp_path: Path, value: str, shown: str) -> None:
    root = example_workspace(tmp_path / "ws")
    path = root / "plans" / "plans.yaml"
    text = path.read_text().replace("name: Starter", f"name: {value}", 1)
    path.write_text(text)
    line = text.splitlines().index(f"    name: {value}") + 1
    result = invoke("validate", "-w", root)
    assert_no_crash(result)
    assert result.exit_code == 1
    assert f"plans/plans.yaml:{line}:11: plans[2].name: the YAML tag {shown} is not supported" in result.stderr
    assert not (root / "PWNED").exists() and not Path("PWNED").exists()


def test_a_tag_on_a_key_is_refused() -> None:
    doc, errors = parse_yaml("? !!python/name:os.system\n: 1\n", "f.yaml")
    assert [e.message for e in errors] == ["the YAML tag !!python/name:os.system is not supported"]


def test_plain_standard_tags_are_read() -> None:
    doc, errors = parse_yaml("a: !!str 12\nb: !!int '7'\nc: !!float '1.5'\nd: !!timestamp 2025-01-01\n", "f.yaml")
    assert errors == []
    assert doc.data == {"a": "12", "b": 7, "c": 1.5, "d": "2025-01-01"}


def test_a_number_too_long_for_python_is_a_diagnostic() -> None:
    doc, errors = parse_yaml("a: " + "9" * 10_000 + "\n", "f.yaml")
    assert [e.message for e in errors] == ["cannot read this value: a number of 10,000 characters is too long"]
