"""Errors that lagosync reports to a person (never as a traceback)."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import logging


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


_SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
_MIN_SECRET = 8  # shorter values are not redacted (they would blank ordinary words)
_KNOWN_SECRETS: set[str] = set()  # values lagosync holds as secrets (API keys), whatever their variable


def register_secret(value: str | None) -> None:
    """Redact ``value`` (an API key the client holds, from any variable) from every message and log
    line from now on, whatever the name of the variable it came from."""
    value = (value or "").strip()
    if len(value) >= _MIN_SECRET:
        _KNOWN_SECRETS.add(value)


def redact(text: str, secrets) -> str:
    """``text`` with each of ``secrets`` (8+ characters) replaced by ``***``, longest first."""
    for value in sorted({v for v in secrets if v and len(v) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def redact_secrets(text: str, environ=None) -> str:
    """``text`` with every known secret replaced by ``***``: the API keys lagosync holds
    (``register_secret``, whatever variable they came from) and the value of every secret-looking
    environment variable.

    A safety net for messages lagosync prints: API keys are never put in messages on purpose
    (principle 6), but a message built from a foreign exception or a server's answer (one that
    echoes the Authorization header) could still carry one. Secret-looking means the variable name
    contains KEY, TOKEN, SECRET or PASSWORD and the value has 8+ characters.
    """
    env = os.environ if environ is None else environ
    values = {
        value.strip() for name, value in env.items()
        if any(part in name.upper() for part in _SECRET_NAME_PARTS)
    }
    return redact(text, values | _KNOWN_SECRETS)


class _RedactingFormatter:
    """Wraps a logging formatter: every formatted record (arguments, exception text) is redacted."""

    def __init__(self, inner: logging.Formatter):
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(self.inner.format(record))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def setup_logging(level: str | int | None) -> None:
    """Log lagosync's own loggers to stderr at ``level`` ("debug", "info", "warning" or a number),
    through a formatter that redacts secrets (``redact_secrets``). ``None``: warnings only, as
    ``lagosync: <message>`` lines (the client says so when it waits long for Lago)."""
    if level is None or level == "":
        _install(logging.WARNING, "lagosync: %(message)s", logger_level=logging.NOTSET)
        return
    if isinstance(level, str):
        value = logging.getLevelName(level.strip().upper())
        if not isinstance(value, int):
            raise UserError(f"unknown log level {level!r}: use debug, info, warning or error")
        level = value
    _install(level, "%(levelname)s %(name)s: %(message)s")


def _install(level: int, fmt: str, logger_level: int | None = None) -> None:
    """One redacting stderr handler at ``level`` on the "lagosync" logger; the logger's own level is
    ``logger_level`` (default: ``level``; NOTSET leaves the filtering to the handler and the root)."""
    logger = logging.getLogger("lagosync")
    for handler in list(logger.handlers):
        if getattr(handler, "_lagosync", False):
            logger.removeHandler(handler)

    handler = logging.StreamHandler(sys.stderr)
    handler._lagosync = True  # type: ignore[attr-defined]
    # Duck-typed: Handler only calls .format(record); other attributes reach the inner formatter.
    formatter = _RedactingFormatter(logging.Formatter(fmt))
    handler.setFormatter(cast(logging.Formatter, formatter))
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(level if logger_level is None else logger_level)


ERROR_FILE_VAR = "LAGOSYNC_ERROR_FILE"


def record_error(text: str, environ=None) -> None:
    """Write what made a command fail (as printed, secrets redacted) to the file ``$LAGOSYNC_ERROR_FILE``
    names, when it is set: a CI job's failure step posts it to the pull request
    (``lagosync ci github pr-comment --error FILE``). Best effort: a file that cannot be written is skipped."""
    env = os.environ if environ is None else environ
    path = env.get(ERROR_FILE_VAR, "").strip()
    if not path:
        return
    try:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(redact_secrets(text.rstrip("\n"), env) + "\n")
    except OSError:
        pass
