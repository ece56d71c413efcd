"""YAML loading that knows the position of every node.

A plain document (the usual case) is read by a fast path: values straight from libyaml's event
stream, with no node tree, and positions found again in the file's events only when a message needs
one. Any other document (anchors, aliases, tags, merge keys, duplicate or non-string keys, great
depth, a syntax error) is read by the careful builder: from PyYAML's node tree with marks, recording
for every path the line and column of its node, of its mapping key, and the raw text of scalars (so
a float can be quoted back to the user exactly as written); it words every problem. Both give the
same values (tests/workspace/test_yaml_fast_path.py). Timestamps stay strings (dates are compared as
text, never converted).
"""

from __future__ import annotations

import json
import os
import re
import stat
import zlib
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from ..errors import Diagnostic

PathT = tuple  # ("plans", 1, "charges", 0, "properties", "amount")

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_YAML_TAG = "tag:yaml.org,2002:"
# the tags a workspace value may carry: plain data only (a ``!!python/...``, ``!!binary``, ``!!set`` or a
# custom ``!tag`` is refused, never constructed)
_SCALAR_TAGS = frozenset(_YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_COLLECTION_TAGS = frozenset({_YAML_TAG + "seq", _YAML_TAG + "map"})

# Limits that keep the work of reading one file bounded by its size (docs/workspace.md "What
# `lagosync validate` checks"): a pull request cannot make validate, plan or CI hang or exhaust memory.
MAX_FILE_BYTES = 32 * 1024 * 1024  # a workspace file larger than this is refused unread
MAX_DEPTH = 200  # nesting levels of mappings and lists
# Aliases (``*name``) repeat what their anchor holds: together they may add at most this many values
# to a document, or ten times the values written in it when that is more ("billion laughs" bombs).
MAX_ALIAS_VALUES = 100_000


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


class Document:
    """One parsed workspace file: its data and where each node sits.

    A document read by the fast path (``_fast_values``) holds no positions: they are found when a
    message first needs one, by scanning the file's events again (only the asked path for the first
    few questions, every path after that), so a clean workspace never pays for them."""

    def __init__(self, file: str, data: Any = None):
        self.file = file  # path relative to the workspace root, posix style
        self.data = data
        self._positions: dict[PathT, tuple[int, int]] = {}  # node of the value
        self._key_positions: dict[PathT, tuple[int, int]] = {}  # mapping key
        self._raw: dict[PathT, str] = {}  # raw text of scalars
        # the file's text while positions are still to be found in it, compressed (a file of 100,000
        # orgs is 29 MB of text, 2 MB so; compressing it costs a fiftieth of reading it)
        self._packed: bytes | None = None
        self._asked = 0

    def _unlocated(self, text: str) -> Document:
        self._packed = zlib.compress(text.encode("utf-8"), 1)
        return self

    def _locate(self, path: PathT | None) -> None:
        """Find the positions of ``path`` and its ancestors (every path when None, or once a few
        paths were asked: then one scan answers all the others)."""
        if self._packed is None:
            return
        text = zlib.decompress(self._packed).decode("utf-8")
        self._asked += 1
        if path is None or self._asked > _TARGETED_SCANS:
            path = None
            self._packed = None
        _scan(text, self, None if path is None else {path[:n] for n in range(len(path) + 1)})

    @property
    def positions(self) -> dict[PathT, tuple[int, int]]:
        self._locate(None)
        return self._positions

    @property
    def key_positions(self) -> dict[PathT, tuple[int, int]]:
        self._locate(None)
        return self._key_positions

    @property
    def raw(self) -> dict[PathT, str]:
        self._locate(None)
        return self._raw

    def raw_text(self, path: PathT) -> str | None:
        """The scalar at ``path`` as written in the file."""
        path = tuple(path)
        if path not in self._raw:
            self._locate(path)
        return self._raw.get(path)

    def where(self, path: PathT, *, key: bool = False) -> tuple[int, int]:
        """Line/column (1-based) of the node at ``path`` (its key when ``key``), else the nearest ancestor."""
        path = tuple(path)
        if path not in self._positions:
            self._locate(path)
        if key and path in self._key_positions:
            return self._key_positions[path]
        while path:
            if path in self._positions:
                return self._positions[path]
            path = path[:-1]
        return self._positions.get((), (1, 1))

    def diag(self, path: PathT, message: str, hint: str = "", *, key: bool = False) -> Diagnostic:
        line, col = self.where(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), clean_text(message), clean_text(hint))


def _pos(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, doc: Document, *, release: bool = False):
        self.doc = doc
        # without aliases every node is built once: a sequence lets go of each item's node once it is
        # built, so the node tree shrinks while the values grow (a lower peak on a large orgs.yaml)
        self.release = release
        self.errors: list[Diagnostic] = []
        self.constructor = SafeConstructor()
        self._stack: set[int] = set()

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.doc._positions[path] = _pos(node.start_mark)
        if id(node) in self._stack:
            self.errors.append(self.doc.diag(path, "recursive YAML structure: an alias refers to a value "
                                             "that contains it", "remove the self-referencing alias"))
            return None
        if len(path) > MAX_DEPTH:  # parse_yaml refuses deeper documents first; kept as a backstop
            self.errors.append(self.doc.diag(path, f"YAML nested more than {MAX_DEPTH} levels deep",
                                             "flatten the structure"))
            return None
        allowed = _SCALAR_TAGS if isinstance(node, yaml.ScalarNode) else _COLLECTION_TAGS
        if node.tag not in allowed:
            self.errors.append(self.doc.diag(path, f"the YAML tag {_show_tag(node.tag)} is not supported",
                                             _TAG_HINT))
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self._stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if not self.release:
                    return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
                items: list[Any] = node.value
                built = []
                for i, child in enumerate(items):
                    built.append(self.build(child, path + (i,)))
                    items[i] = None
                return built
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self._stack.discard(id(node))
        return None  # pragma: no cover - PyYAML has no other node kinds

    def _scalar(self, node: yaml.ScalarNode, path: PathT) -> Any:
        self.doc._raw[path] = node.value
        if node.tag == _TIMESTAMP:
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ConstructorError, ValueError, TypeError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            if "digits" in problem and isinstance(exc, ValueError):  # Python's int-string limit
                problem = f"a number of {len(node.value):,} characters is too long"
            self.errors.append(self.doc.diag(path, f"cannot read this value: {problem}",
                                             "use a plain string, number, true/false or null"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict:
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            self.constructor.flatten_mapping(node)  # YAML merge keys (<<): merged pairs come first
        except ConstructorError as exc:
            self.errors.append(self.doc.diag(path, f"invalid merge key: {exc.problem}",
                                             "merge (<<) only mappings"))
        merged = len(node.value) - own
        from_merge: set = set()  # keys a merge gave: the mapping's own keys override them
        result: dict = {}
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _pos(key_node.start_mark)
                self.errors.append(Diagnostic(self.doc.file, line, col, format_path(path),
                                              "a mapping key must be a plain string",
                                              "write the key as a name, e.g. `code:`"))
                continue
            key: Any = key_node.value
            if key_node.tag not in _SCALAR_TAGS:
                line, col = _pos(key_node.start_mark)
                self.errors.append(Diagnostic(self.doc.file, line, col, format_path(path),
                                              clean_text(f"the YAML tag {_show_tag(key_node.tag)} is not "
                                                         "supported"), _TAG_HINT))
                continue
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
            if key in from_merge:
                from_merge.discard(key)
                del result[key]
            if index < merged:
                from_merge.add(key)
            if key in result:
                line, col = _pos(key_node.start_mark)
                first = self.doc._key_positions.get(child, (0, 0))
                self.errors.append(Diagnostic(self.doc.file, line, col, format_path(child),
                                              clean_text(f"duplicate key '{key}' (first at line {first[0]})"),
                                              "keep only one of them"))
                continue
            self.doc._key_positions[child] = _pos(key_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


_TAG_HINT = "remove the tag: workspace files hold plain strings, numbers, true/false, null, lists and mappings"


def _show_tag(tag: str) -> str:
    """``tag:yaml.org,2002:python/object`` -> ``!!python/object``, as the user wrote it."""
    return clean_text("!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag)


def _children(node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    """(path part, child node) of a collection node; mapping keys count as values too (part None)."""
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[Any, yaml.Node]] = []
        for key, value in node.value:
            out.append((None, key))
            out.append((key.value if isinstance(key, yaml.ScalarNode) else "?", value))
        return out
    return []


def _measure(root: yaml.Node) -> tuple[dict[int, int], dict[int, int]]:
    """For every distinct node (by id): how many values it stands for once every alias in it is
    expanded, and its height (1 for a scalar). Iterative and linear in the distinct nodes; a
    recursive alias (a node reached again inside itself) counts as nothing here, the builder
    reports it. Scalars are settled where they are met (they are most of the nodes)."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    active: set[int] = set()
    scalar = yaml.ScalarNode
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, kids = stack.pop()
        key = id(node)
        if kids is not None:  # finished: every child is measured (or active: a recursive alias)
            total, tallest = 1, 0
            for child in kids:
                ck = id(child)
                if ck in size:
                    total += size[ck]
                    if height[ck] > tallest:
                        tallest = height[ck]
            size[key] = total
            height[key] = 1 + tallest
            active.discard(key)
            continue
        if key in size or key in active:
            continue
        if isinstance(node, scalar):
            size[key] = height[key] = 1
            continue
        value = node.value
        kids = value if isinstance(node, yaml.SequenceNode) else [n for pair in value for n in pair]
        active.add(key)
        stack.append((node, kids))
        for child in kids:
            ck = id(child)
            if ck in size or ck in active:
                continue
            if isinstance(child, scalar):
                size[ck] = height[ck] = 1
            else:
                stack.append((child, None))
    return size, height


def _limits(root: yaml.Node, doc: Document) -> tuple[Diagnostic | None, bool]:
    """Refuse, before building anything, a document nested deeper than MAX_DEPTH or whose aliases
    expand it by more than MAX_ALIAS_VALUES values (or 10x the values written): the diagnostic
    points at the deepest (or the smallest still too large) node. Also says whether the document
    is free of aliases (every node reached once)."""
    size, height = _measure(root)
    path: PathT = ()
    node = root
    if height[id(root)] - 1 > MAX_DEPTH:
        while len(path) < MAX_DEPTH:
            part, node = max(((p, c) for p, c in _children(node) if id(c) in height),
                             key=lambda pc: height[id(pc[1])])
            path += (part,) if part is not None else ()
        line, col = _pos(node.start_mark)
        shown = format_path(path[:6]) + ("..." if len(path) > 6 else "")
        return Diagnostic(doc.file, line, col, shown,
                          f"YAML nested more than {MAX_DEPTH} levels deep", "flatten the structure"), False
    written = len(size)
    allowed = max(MAX_ALIAS_VALUES, 10 * written)
    total = size[id(root)]
    if total - written <= allowed:
        return None, total == written
    while True:
        bigger = [(p, c) for p, c in _children(node) if size.get(id(c), 0) > allowed and p is not None]
        if not bigger:
            break
        part, node = bigger[0]
        path += (part,)
    line, col = _pos(node.start_mark)
    return Diagnostic(doc.file, line, col, format_path(path),
                      f"YAML aliases expand this value to {size[id(node)]:,} values (the whole file to "
                      f"{total:,}); aliases may add at most {allowed:,} values to a file",
                      "write the repeated values out, or repeat them with fewer nested aliases"), False


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml: ~5x faster on large orgs.yaml files


def _compose(text: str):
    """Compose with libyaml when available; on any error, compose again with the pure-Python
    loader so that syntax errors read the same on every install (its messages are the tested ones)."""
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.MarkedYAMLError as exc:
            if "nesting depth" in (exc.problem or ""):
                raise  # libyaml's own depth limit: the pure-Python loader would only recurse deeper
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


# -- the fast path: values straight from libyaml's events ------------------------------------------
#
# Most workspace files are plain: no anchors, aliases, tags, merge keys, duplicate or non-string
# keys, moderate depth. For those, values are built from the parser's event stream with no node tree
# (it was most of the memory of reading a large orgs.yaml) and no positions (found later, only when a
# message needs one). Anything else makes the fast path give up, and the file is read again by the
# positions-keeping builder above, which has the words for every problem: both give the same values.

_TARGETED_SCANS = 8  # positions asked one path at a time before a document is scanned whole
_FAST_DEPTH = MAX_DEPTH // 2  # deeper documents go to the careful builder (its depth messages)
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers  # plain scalar -> tag, by first character
_STR_TAG = _YAML_TAG + "str"
_CONSTRUCTED = {_YAML_TAG + t: getattr(SafeConstructor, "construct_yaml_" + t) for t in ("int", "float", "bool")}
_NULL_TAG = _YAML_TAG + "null"
_NO_KEY = object()  # a mapping waiting for its next key
# one str per distinct short string (keys, currencies, plan codes, metadata keys): a large orgs.yaml
# repeats the same few thousands of times
_SHARED_STR = 32


class _GiveUp(Exception):
    """The fast path does not read this document; the careful builder will."""


def _plain_tag(value: str) -> str:
    """The tag YAML 1.1 gives a plain (unquoted, untagged) scalar, as PyYAML's resolver does."""
    for tag, regexp in _RESOLVERS.get(value[0] if value else "", ()):
        if regexp.match(value):
            return tag
    return _STR_TAG


def _fast_scalar(event) -> tuple[Any, bool]:
    """(value, is a string) of a scalar event; raises _GiveUp for anything but plain data."""
    if event.anchor is not None or event.tag is not None:
        raise _GiveUp
    value = event.value
    if not event.implicit[0]:  # quoted
        return value, True
    tag = _plain_tag(value)
    if tag == _STR_TAG:
        return value, True
    if tag == _TIMESTAMP:
        return value, False  # kept as text (module docstring); never a key
    if tag == _NULL_TAG:
        return None, False
    construct = _CONSTRUCTED.get(tag)
    if construct is None:  # merge (<<), value (=)
        raise _GiveUp
    try:
        return construct(_CONSTRUCTOR, yaml.ScalarNode(tag, value)), False
    except (ValueError, TypeError, OverflowError, ConstructorError) as exc:
        raise _GiveUp from exc


_CONSTRUCTOR = SafeConstructor()


def _fast_values(text: str) -> Any:
    """The document's values built from libyaml's events; raises _GiveUp when the document is not
    plain data (see above) or does not parse."""
    if _FAST_LOADER is None:
        raise _GiveUp
    loader = _FAST_LOADER(text)
    try:
        get = loader.get_event
        root: Any = None
        stack: list[Any] = []  # open collections
        keys: list[Any] = []  # per open collection: a mapping's pending key (_NO_KEY when none)
        names: dict[str, str] = {}  # the shared short strings
        documents = 0
        while True:
            event = get()
            kind = type(event)
            if kind is ScalarEvent:
                value, is_str = _fast_scalar(event)
                if is_str and len(value) <= _SHARED_STR:
                    value = names.setdefault(value, value)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or len(stack) >= _FAST_DEPTH:
                    raise _GiveUp
                value, is_str = ({} if kind is MappingStartEvent else []), False
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
                keys.pop()
                continue
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _GiveUp
                continue
            elif kind is StreamEndEvent:
                return root
            elif kind is StreamStartEvent or kind is DocumentEndEvent:
                continue
            else:  # an alias
                raise _GiveUp
            if not stack:
                root = value
            else:
                top = stack[-1]
                if type(top) is list:
                    top.append(value)
                else:
                    key = keys[-1]
                    if key is _NO_KEY:
                        if not is_str or value in top:  # a non-string or repeated key
                            raise _GiveUp
                        keys[-1] = value
                    else:
                        top[key] = value
                        keys[-1] = _NO_KEY
            if not is_str and (kind is MappingStartEvent or kind is SequenceStartEvent):
                stack.append(value)
                keys.append(_NO_KEY)
    except yaml.YAMLError as exc:
        raise _GiveUp from exc
    finally:
        loader.dispose()


def _scan(text: str, doc: Document, wanted: set[PathT] | None) -> None:
    """Record into ``doc`` the positions (and raw scalar text) of the nodes at ``wanted`` paths, of
    every node when None, from the events of a document the fast path read."""
    loader = _FAST_LOADER(text)  # type: ignore[misc]  # only fast-path documents are scanned
    positions, key_positions, raw = doc._positions, doc._key_positions, doc._raw
    try:
        get = loader.get_event
        # per open collection: its path, and the next index (a list) or the pending key (a mapping)
        paths: list[PathT] = []
        nexts: list[Any] = []
        is_map: list[bool] = []
        while True:
            event = get()
            kind = type(event)
            if kind is StreamEndEvent:
                return
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                paths.pop()
                nexts.pop()
                is_map.pop()
                continue
            if kind is not ScalarEvent and kind is not MappingStartEvent and kind is not SequenceStartEvent:
                continue
            if not paths:
                path: PathT = ()
            elif is_map[-1]:
                if nexts[-1] is _NO_KEY:  # a key (always a plain string here)
                    nexts[-1] = event.value
                    child = paths[-1] + (event.value,)
                    if wanted is None or child in wanted:
                        key_positions[child] = _pos(event.start_mark)
                    continue
                path = paths[-1] + (nexts[-1],)
                nexts[-1] = _NO_KEY
            else:
                path = paths[-1] + (nexts[-1],)
                nexts[-1] += 1
            if wanted is None or path in wanted:
                positions[path] = _pos(event.start_mark)
                if kind is ScalarEvent:
                    raw[path] = event.value
            if kind is not ScalarEvent:
                paths.append(path)
                nexts.append(_NO_KEY if kind is MappingStartEvent else 0)
                is_map.append(kind is MappingStartEvent)
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str) -> tuple[Document, list[Diagnostic]]:
    """Parse one YAML document keeping positions; never raises for bad input."""
    try:
        return Document(file, _fast_values(text))._unlocated(text), []
    except _GiveUp:
        return parse_yaml_carefully(text, file)


def parse_yaml_carefully(text: str, file: str) -> tuple[Document, list[Diagnostic]]:
    """Parse with the positions-keeping builder, which words every problem (parse_yaml's fallback)."""
    doc = Document(file)
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark) if mark is not None else (1, 1)
        if "nesting depth" in (exc.problem or ""):
            return doc, [Diagnostic(file, line, col, "", f"YAML nested more than {MAX_DEPTH} levels deep",
                                    "flatten the structure")]
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
        return doc, [Diagnostic(file, 1, 1, "", f"YAML nested more than {MAX_DEPTH} levels deep",
                                "flatten the structure")]
    if node is None:
        return doc, []
    too_large, alias_free = _limits(node, doc)
    if too_large is not None:
        return doc, [too_large]
    builder = _Builder(doc, release=alias_free)
    try:
        doc.data = builder.build(node, ())
    except RecursionError:
        return doc, [Diagnostic(file, 1, 1, "", f"YAML nested more than {MAX_DEPTH} levels deep",
                                "flatten the structure")]
    return doc, builder.errors


def read_file_bytes(path: Path, rel: str) -> tuple[bytes | None, list[Diagnostic]]:
    """The bytes of a workspace file, read at most MAX_FILE_BYTES + 1 of them: a larger file, or
    something that is not a regular file (a device such as /dev/zero, a pipe), is a Diagnostic."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return None, [Diagnostic(rel, 1, 1, "", "not a regular file", "replace it with a YAML file")]
        with open(path, "rb") as handle:
            # sized by the file (a read of MAX_FILE_BYTES + 1 allocates that much for any file); one
            # that grew since stat is read on, still bounded
            raw = handle.read(min(info.st_size, MAX_FILE_BYTES) + 1)
            if len(raw) > info.st_size and len(raw) <= MAX_FILE_BYTES:
                raw += handle.read(MAX_FILE_BYTES + 1 - len(raw))
    except OSError as exc:
        return None, [Diagnostic(rel, 1, 1, "", f"cannot read file: {exc.strerror or exc}",
                                 "check that it exists and is readable")]
    if len(raw) > MAX_FILE_BYTES:
        mib, rest = divmod(MAX_FILE_BYTES, 1024 * 1024)
        limit = f"{mib} MiB" if mib and not rest else f"{MAX_FILE_BYTES:,} bytes"
        return None, [Diagnostic(rel, 1, 1, "", f"file is larger than {limit}",
                                 "a workspace file must be smaller: split plans/ into several files, "
                                 "or remove what does not belong in it")]
    return raw, []


def parse_yaml_bytes(raw: bytes, rel: str) -> tuple[Document | None, list[Diagnostic]]:
    """Decode (UTF-8) and parse the bytes of a file; non-UTF-8 gives a Diagnostic."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic(rel, 1, 1, "", f"file is not UTF-8 text (byte {exc.start})",
                                 "save the file as UTF-8")]
    return parse_yaml(text, rel)


def read_yaml_file(path: Path, rel: str) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse a file; unreadable, too large or non-UTF-8 files give a Diagnostic, not an exception."""
    raw, errors = read_file_bytes(path, rel)
    if raw is None:
        return None, errors
    return parse_yaml_bytes(raw, rel)
