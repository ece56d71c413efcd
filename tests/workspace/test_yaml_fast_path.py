"""The fast YAML path (values from libyaml's events, positions found later) against the careful,
positions-keeping builder: on every document the fast path reads, both give the same values (types
included), the same positions of every node and key, and the same raw text; everything else the
fast path hands to the careful builder. Seeded random documents plus the repository's own files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from lagosync.workspace.yamlpos import _fast_values, _GiveUp, parse_yaml, parse_yaml_carefully

REPO = Path(__file__).resolve().parents[2]
SEED = 20261201
DOCUMENTS = 400

PLAIN = ["abc", "yes", "No", "on", "~", "null", "", "1", "-3", "0x1F", "0o17", "017", "1_000", "1.5", "1e3",
         "6.8523015e+5", ".inf", "-.Inf", ".nan", "190:20:30", "2024-01-31", "2025-01-01T00:00:00Z",
         "2024-13-45", "true", "FALSE", "0.0010", "+12", "a b", "=", "<<", "-", "usr_1", "1" * 5000]
KEYS = ["code", "name", "plan_code", "a b", "x.y", "ß", "'1'", "amount_cents", "metadata", "value"]
ODD_KEYS = ["1", "true", "null", "~", "<<", "2024-01-01", "code"]  # not strings, a merge, a repeat


def _typed(value: Any) -> Any:
    """A structure where True, 1 and 1.0 differ (== would confuse them)."""
    if isinstance(value, dict):
        return ("map", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [_typed(v) for v in value])
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


def _scalar(rng: random.Random) -> str:
    text = rng.choice(PLAIN)
    roll = rng.random()
    if roll < 0.15:
        return "'" + text.replace("'", "''") + "'"
    if roll < 0.25:
        return '"' + text + '"'
    if roll < 0.26:
        return "!!str " + text if text else "!!str x"
    if roll < 0.27:
        return "&a " + (text or "x")
    return text if text not in ("-", "=") or rng.random() < 0.5 else "x"


def _block(rng: random.Random, depth: int, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if rng.random() < 0.5:
        for key in rng.sample(KEYS, rng.randint(1, 4)):
            key = rng.choice(ODD_KEYS) if rng.random() < 0.04 else key
            if depth < 3 and rng.random() < 0.4:
                lines.append(f"{pad}{key}:")
                lines += _block(rng, depth + 1, indent + 2)
            elif rng.random() < 0.1:
                lines.append(f"{pad}{key}: {{k: {_scalar(rng)}, {rng.choice(KEYS)}: [1, b]}}")
            else:
                lines.append(f"{pad}{key}: {_scalar(rng)}")
    else:
        for _ in range(rng.randint(1, 4)):
            if depth < 3 and rng.random() < 0.4:
                lines.append(f"{pad}-")
                lines += _block(rng, depth + 1, indent + 2)
            elif rng.random() < 0.02:
                lines.append(f"{pad}- *a")
            else:
                lines.append(f"{pad}- {_scalar(rng)}")
    return lines


def _documents() -> list[str]:
    rng = random.Random(SEED)
    docs = ["", "# only a comment\n", "---\n", "a: 1\n---\nb: 2\n", "a: [1, 2\n", "\ufeffa: 1\n",
            "a: " + "[" * 150 + "]" * 150 + "\n", "a: !!binary aGVsbG8=\n", "? [1, 2]\n: x\n", "a: 1\na: 2\n"]
    docs += [yaml.safe_dump({"plans": [{"code": "p", "amount_cents": 100, "interval": "monthly"}]})]
    for _ in range(DOCUMENTS):
        text = "\n".join(_block(rng, 0, 0)) + "\n"
        if rng.random() < 0.1:  # a random cut: syntax errors
            text = text[: rng.randint(0, len(text))]
        docs.append(text)
    return docs


def _repository_files() -> list[Path]:
    return [REPO / "lagosync.yaml", REPO / "orgs.yaml", *sorted((REPO / "plans").glob("*.yaml")),
            *sorted((REPO / "pricing_tests").glob("*.yaml"))]


def _same_as_careful(text: str) -> bool:
    """Asserts the fast path agrees with the careful builder; True when the fast path read it."""
    careful, errors = parse_yaml_carefully(text, "f.yaml")
    try:
        values = _fast_values(text)
    except _GiveUp:
        return False
    assert not errors, (text, errors)
    assert _typed(values) == _typed(careful.data), text
    # one path at a time first (targeted scans), then every path at once
    doc, fast_errors = parse_yaml(text, "f.yaml")
    assert not fast_errors
    for path in sorted(careful.positions, key=repr)[:12]:
        assert doc.where(path) == careful.where(path), (text, path)
        assert doc.where(path, key=True) == careful.where(path, key=True), (text, path)
        assert doc.raw_text(path) == careful.raw.get(path), (text, path)
    fresh, _ = parse_yaml(text, "f.yaml")
    assert fresh.positions == careful.positions, text
    assert fresh.key_positions == careful.key_positions, text
    assert fresh.raw == careful.raw, text
    assert fresh.where(("no", "such", "path")) == careful.where(("no", "such", "path"))
    return True


def test_fast_path_agrees_with_the_careful_builder():
    docs = _documents()
    read = sum(_same_as_careful(text) for text in docs)
    # the generator mixes plain documents with what only the careful builder reads: both happen often
    assert 0.3 * len(docs) < read < 0.9 * len(docs), read


@pytest.mark.parametrize("path", _repository_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_repository_files_take_the_fast_path(path: Path):
    # the fast path is what keeps a large workspace cheap: a plain file must not fall back
    assert _same_as_careful(path.read_text(encoding="utf-8-sig"))


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: !!str 1\n", "<<: {a: 1}\n", "1: x\n", "a: 1\na: 2\n",
                                  "a: 1\n---\nb: 2\n", "a: [1\n", "? [1]\n: x\n", "2024-01-01: x\n"])
def test_what_the_fast_path_leaves_to_the_careful_builder(text: str):
    with pytest.raises(_GiveUp):
        _fast_values(text)
    doc, errors = parse_yaml(text, "f.yaml")
    careful, careful_errors = parse_yaml_carefully(text, "f.yaml")
    assert errors == careful_errors
    assert _typed(doc.data) == _typed(careful.data)
