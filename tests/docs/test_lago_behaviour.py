"""docs/lago-behaviour.md is the project's record of the Lago rules it relies on. Its entries are
``### `<id>` `` headings under ``##`` topics, each ending with a ``Source:`` line; code, tests and
schemas cite them as ``lago-behaviour#<id>``. These tests keep the file well-formed, every
citation pointing at an entry that exists, and no file citing the private research notes the
entries replaced (they are not part of the repository)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "lago-behaviour.md"
SCANNED = ("lagosync", "tests", "schemas", "bench", "plans", "docs", "README.md")
SUFFIXES = {".py", ".md", ".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh"}
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}

ID = r"[a-z0-9]+(?:-[a-z0-9]+)*"
ENTRY_HEADING = re.compile(rf"^### `({ID})`$")
CITATION = re.compile(rf"lago-behaviour#({ID})")


def _entries() -> list[tuple[str, int, list[str]]]:
    """(id, heading line number, body lines) for every ``###`` entry of the document."""
    entries: list[tuple[str, int, list[str]]] = []
    in_code = False
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("#"):
            if line.startswith("### "):
                match = ENTRY_HEADING.match(line)
                assert match, f"{DOC.name}:{number}: an entry heading is exactly ### `<id>` (lowercase, hyphens): {line!r}"
                entries.append((match.group(1), number, []))
                continue
            entries.append(("", number, []))  # a topic heading closes the previous entry
            continue
        if entries:
            entries[-1][2].append(line)
    return [e for e in entries if e[0]]


def _scanned_files():
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix in SUFFIXES and not SKIPPED_DIRS & set(file.parts):
                yield file


def test_entries_exist_under_topics() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert re.search(r"^## ", text, re.M), "entries are grouped under ## topic headings"
    first_entry = text.index("\n### ")
    assert "\n## " in text[:first_entry], "the first entry comes after a ## topic heading"
    assert len(_entries()) > 0


def test_every_entry_has_a_source_line() -> None:
    missing = [f"{DOC.name}:{number}: {ident}" for ident, number, body in _entries()
               if not any(line.startswith("Source: ") and line[len("Source: "):].strip() for line in body)]
    assert missing == [], "entries without a 'Source: ' line"


def test_every_entry_states_a_rule() -> None:
    empty = [f"{DOC.name}:{number}: {ident}" for ident, number, body in _entries()
             if not any(line.strip() and not line.startswith("Source: ") for line in body)]
    assert empty == []


def test_ids_are_unique() -> None:
    seen: dict[str, int] = {}
    duplicates = []
    for ident, number, _ in _entries():
        if ident in seen:
            duplicates.append(f"{DOC.name}:{number}: {ident} (first at line {seen[ident]})")
        seen.setdefault(ident, number)
    assert duplicates == []


def test_every_citation_names_an_entry() -> None:
    known = {ident for ident, _, _ in _entries()}
    unknown = []
    for file in _scanned_files():
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in CITATION.finditer(line):
                if match.group(1) not in known:
                    unknown.append(f"{file.relative_to(ROOT)}:{number}: lago-behaviour#{match.group(1)}")
    assert unknown == [], "citations of ids that docs/lago-behaviour.md does not define"


# Built from parts so that this file does not match itself.
NOTES_CITATION = "notes " + "\u00a7"
NOTES_FILE = "LAGO-API-" + "NOTES"


def _tracked_text_files() -> list[tuple[str, str]]:
    """(path, text) of every file git tracks, binary and deleted files skipped."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in listed.decode("utf-8").split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            files.append((name, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def test_no_tracked_file_cites_the_private_notes() -> None:
    found = [f"{name}:{number}: {line.strip()[:100]}"
             for name, text in _tracked_text_files()
             for number, line in enumerate(text.splitlines(), 1)
             if NOTES_CITATION in line or NOTES_FILE in line]
    assert found == [], "cite docs/lago-behaviour.md (lago-behaviour#<id>), not the private notes"


def test_the_package_refers_to_nothing_in_the_sibling_shared_folder() -> None:
    # tests and CI may read ../shared/lago-openapi/openapi.yaml (the OpenAPI spec CI provides);
    # the package itself must not depend on, or cite, anything outside the repository.
    found = [f"{name}:{number}: {line.strip()[:100]}"
             for name, text in _tracked_text_files() if name.startswith("lagosync/")
             for number, line in enumerate(text.splitlines(), 1)
             if "../shared" in line]
    assert found == []
