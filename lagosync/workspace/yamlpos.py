"""YAML loading that keeps the position of every node.

PyYAML's composer gives a node tree with marks; we build plain Python values from it ourselves
(safe constructors only) and record, for every path inside the document, the line and column of
its node, of its mapping key, and the raw text of scalars (so a float can be quoted back to the
user exactly as written). Timestamps stay strings (dates are compared as text, never converted).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from ..errors import Diagnostic

PathT = tuple  # ("plans", 1, "charges", 0, "properties", "amount")

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAX_DEPTH = 200


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$@/+-]+$")
# C0/C1 controls and the Unicode line/paragraph separators: str.splitlines (and terminals, log tools)
# break lines on \x85, \u2028, \u2029 too
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(text: str) -> str:
    """Escape control characters so one Diagnostic is always one line."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def format_path(path: PathT) -> str:
    """``("plans", 1, "charges", 0, "code")`` -> ``plans[1].charges[0].code``; odd keys as ``["a b"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += ("." if out else "") + str(part)
        else:
            out += "[" + json.dumps(str(part), ensure_ascii=False) + "]"
    return clean_text(out)


@dataclass
class Document:
    """One parsed workspace file: its data and where each node sits."""

    file: str  # path relative to the workspace root, posix style
    data: Any = None
    positions: dict[PathT, tuple[int, int]] = field(default_factory=dict)  # node of the value
    key_positions: dict[PathT, tuple[int, int]] = field(default_factory=dict)  # mapping key
    raw: dict[PathT, str] = field(default_factory=dict)  # raw text of scalars

    def where(self, path: PathT, *, key: bool = False) -> tuple[int, int]:
        """Line/column (1-based) of the node at ``path`` (its key when ``key``), else the nearest ancestor."""
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def diag(self, path: PathT, message: str, hint: str = "", *, key: bool = False) -> Diagnostic:
        line, col = self.where(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), clean_text(message), clean_text(hint))


def _pos(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, doc: Document):
        self.doc = doc
        self.errors: list[Diagnostic] = []
        self.constructor = SafeConstructor()
        self._stack: set[int] = set()

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.doc.positions[path] = _pos(node.start_mark)
        if id(node) in self._stack or len(path) > _MAX_DEPTH:
            self.errors.append(self.doc.diag(path, "recursive or too deeply nested YAML structure",
                                             "remove the self-referencing alias"))
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self._stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self._stack.discard(id(node))
        return None  # pragma: no cover - PyYAML has no other node kinds

    def _scalar(self, node: yaml.ScalarNode, path: PathT) -> Any:
        self.doc.raw[path] = node.value
        if node.tag == _TIMESTAMP:
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ConstructorError, ValueError, TypeError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.errors.append(self.doc.diag(path, f"cannot read this value: {problem}",
                                             "use a plain string, number, true/false or null"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict:
        try:
            self.constructor.flatten_mapping(node)  # YAML merge keys (<<)
        except ConstructorError as exc:
            self.errors.append(self.doc.diag(path, f"invalid merge key: {exc.problem}",
                                             "merge (<<) only mappings"))
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _pos(key_node.start_mark)
                self.errors.append(Diagnostic(self.doc.file, line, col, format_path(path),
                                              "a mapping key must be a plain string",
                                              "write the key as a name, e.g. `code:`"))
                continue
            key: Any = key_node.value
            if key_node.tag != "tag:yaml.org,2002:str":
                try:
                    key = self.constructor.construct_object(key_node, deep=True)
                except (ConstructorError, ValueError, TypeError, OverflowError):
                    key = key_node.value
                if not isinstance(key, str):
                    line, col = _pos(key_node.start_mark)
                    self.errors.append(Diagnostic(
                        self.doc.file, line, col, format_path(path),
                        clean_text(f"key {key_node.value!r} is read as {type(key).__name__}, not a string"),
                        clean_text(f'quote it: "{key_node.value}"')))
                    key = key_node.value
            child = path + (key,)
            if key in result:
                line, col = _pos(key_node.start_mark)
                first = self.doc.key_positions.get(child, (0, 0))
                self.errors.append(Diagnostic(self.doc.file, line, col, format_path(child),
                                              clean_text(f"duplicate key '{key}' (first at line {first[0]})"),
                                              "keep only one of them"))
                continue
            self.doc.key_positions[child] = _pos(key_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml: ~5x faster on large orgs.yaml files


def _compose(text: str):
    """Compose with libyaml when available; on any error, compose again with the pure-Python
    loader so that syntax errors read the same on every install (its messages are the tested ones)."""
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_yaml(text: str, file: str) -> tuple[Document, list[Diagnostic]]:
    """Parse one YAML document keeping positions; never raises for bad input."""
    doc = Document(file=file)
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark) if mark is not None else (1, 1)
        problem = " ".join((exc.problem or "invalid YAML").split())
        context = f" {' '.join(exc.context.split())}" if exc.context else ""
        if exc.context_mark is not None and exc.problem_mark is not None \
                and exc.context_mark.line != exc.problem_mark.line:
            context += f" started at line {exc.context_mark.line + 1}"
        return doc, [Diagnostic(file, line, col, "", clean_text(f"YAML syntax error: {problem}{context}"),
                                "fix the indentation, quoting or punctuation at this spot")]
    except yaml.reader.ReaderError as exc:
        pos = max(0, min(exc.position, len(text)))
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return doc, [Diagnostic(file, line, col, "", f"character U+{ord(char):04X} is not allowed in YAML",
                                "remove it (control characters must be escaped inside a quoted string)")]
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        return doc, [Diagnostic(file, 1, 1, "", f"YAML syntax error: {message}", "fix the YAML")]
    except RecursionError:
        return doc, [Diagnostic(file, 1, 1, "", "YAML structure nested too deeply", "flatten the document")]
    if node is None:
        return doc, []
    builder = _Builder(doc)
    try:
        doc.data = builder.build(node, ())
    except RecursionError:
        return doc, [Diagnostic(file, 1, 1, "", "YAML structure nested too deeply", "flatten the document")]
    return doc, builder.errors


def read_yaml_file(path: Path, rel: str) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse a file; unreadable or non-UTF-8 files give a Diagnostic, not an exception."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(rel, 1, 1, "", f"cannot read file: {exc.strerror or exc}",
                                 "check that it exists and is readable")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic(rel, 1, 1, "", f"file is not UTF-8 text (byte {exc.start})",
                                 "save the file as UTF-8")]
    return parse_yaml(text, rel)
