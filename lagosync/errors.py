"""Errors that lagosync reports to a person (never as a traceback)."""

from __future__ import annotations

from dataclasses import dataclass


class LagosyncError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with ``exit_code``."""

    exit_code = 1


class UserError(LagosyncError):
    """A mistake in the user's input or flags; the message says what to do."""


@dataclass(frozen=True)
class Diagnostic:
    """One finding of ``lagosync validate``: where, what is wrong, and how to fix it."""

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str = ""

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class WorkspaceError(UserError):
    """The workspace cannot be loaded; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        lines = [d.format() for d in self.diagnostics]
        count = len(lines)
        super().__init__(
            "\n".join(lines) + f"\n{count} error{'s' if count != 1 else ''} in the workspace"
        )
