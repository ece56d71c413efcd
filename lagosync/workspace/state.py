"""The workspace's local state folder ``.lagosync/`` (emulator database, apply lock, audit log).

It is git-ignored wherever the workspace lives: the folder carries its own ``.gitignore`` (``*``),
as ``.pytest_cache`` or ``.venv`` do, so a billing repository never commits local state even
without a rule in its own ``.gitignore``.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".lagosync"
GITIGNORE = "# Created by lagosync: local state (emulator database, lock, audit log), never committed.\n*\n"


def ensure_state_dir(folder: Path | str) -> Path:
    """Create ``folder`` (a workspace's ``.lagosync/``) with its ``.gitignore``; return it.

    Raises ``OSError`` when the folder cannot be created (callers turn it into a clean error);
    the ``.gitignore`` is best effort and never replaced once present.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        try:
            ignore.write_text(GITIGNORE)
        except OSError:
            pass
    return folder


def state_dir(root: Path | str) -> Path:
    """``<root>/.lagosync``, created with its ``.gitignore``."""
    return ensure_state_dir(Path(root) / STATE_DIR)
