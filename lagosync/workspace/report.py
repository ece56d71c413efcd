"""``lagosync validate --format``: the diagnostics as text, as JSON, or as GitHub Actions annotations."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import Diagnostic

VALIDATE_FORMATS = ("text", "json", "github")


def _escape_data(text: str) -> str:
    # GitHub workflow commands: a message may hold no raw %, CR or LF
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _repo_path(root: str | Path, file: str) -> str:
    """A diagnostic's file as GitHub wants it: relative to the current directory (the checkout)."""
    full = (Path(root) / file).absolute()
    path = os.path.relpath(full) if full.is_relative_to(Path.cwd()) else str(full)
    return Path(path).as_posix() + ("/" if file.endswith("/") else "")


def github_annotation(diag: Diagnostic, root: str | Path = ".") -> str:
    """``::error file=plans/plans.yaml,line=7,col=19,title=lagosync validate::message (hint)``."""
    message = f"{diag.path}: {diag.message}" if diag.path else diag.message
    if diag.hint:
        message += f" ({diag.hint})"
    props = f"file={_escape_property(_repo_path(root, diag.file))},line={diag.line},col={diag.column}"
    return f"::error {props},title={_escape_property('lagosync validate')}::{_escape_data(message)}"


def report(diags: list[Diagnostic], summary: str, fmt: str, root: str | Path = ".") -> tuple[str, str]:
    """``(stdout, stderr)`` text of ``validate`` in ``fmt`` (text: diagnostics on stderr; json and
    github: everything on stdout, for a program to read)."""
    if fmt == "json":
        doc = {"ok": not diags, "summary": summary, "error_count": len(diags),
               "diagnostics": [{"file": d.file, "line": d.line, "column": d.column, "path": d.path,
                                "message": d.message, "hint": d.hint, "text": d.format()} for d in diags]}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n", ""
    if fmt == "github":
        return "".join(github_annotation(d, root) + "\n" for d in diags) + summary + "\n", ""
    lines = "".join(d.format() + "\n" for d in diags)
    return ("", lines + summary + "\n") if diags else (summary + "\n", "")
