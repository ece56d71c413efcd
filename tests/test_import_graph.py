"""lagosync's modules import each other without a circle, and import at the top unless start-up needs it.

Every ``import`` / ``from … import`` inside lagosync/ counts, wherever it is written (top level,
``if TYPE_CHECKING:``, inside a function), so a circle cannot hide behind a function-level import.
A parent package that Python loads implicitly before a submodule is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lagosync

ROOT = Path(lagosync.__file__).parent
PACKAGE = "lagosync"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            # `from . import recorder` imports the submodule `recorder`; `from .core import X` imports core
            targets = [f"{base_name}.{a.name}" if f"{base_name}.{a.name}" in modules else base_name
                       for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in modules and t != name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _edges(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_known_imports():
    graph = _graph()
    assert "lagosync.emulator.resources" in graph["lagosync.emulator.core"]
    assert "lagosync.emulator.common" in graph["lagosync.emulator.core"]
    assert "lagosync.emulator.recorder" in graph["lagosync.emulator.core"]  # `from . import recorder`
    assert "lagosync.emulator.resources.base" in graph["lagosync.emulator.resources.taxes"]
    assert "lagosync.emulator.common" in graph["lagosync.emulator.resources.base"]


def test_no_module_of_lagosync_is_in_an_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_function_level_imports_are_only_for_start_up():
    """An import inside a function is allowed only to keep start-up fast, and says so in a comment
    (``start-up``) on its line or the line above; everything else imports at the top of its module."""
    unexplained = []
    for path in _modules().values():
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    near = " ".join(lines[max(0, node.lineno - 2):node.end_lineno])
                    if "start-up" not in near:
                        unexplained.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert unexplained == []
