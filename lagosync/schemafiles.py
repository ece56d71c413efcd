"""The JSON Schemas of the workspace files where a workspace keeps them, and the modelines naming them.

Every workspace file starts with a ``yaml-language-server`` modeline naming its schema by a path
relative to the file (``./schemas/orgs.schema.json`` in the workspace root, ``../schemas/...`` in
``plans/``), so the schemas live in ``schemas/`` of the workspace: ``lagosync schema`` writes them
there from the package data (``lagosync.schemas``), ``init`` and ``import`` write them too. They are
meant to be committed with the workspace (every colleague's editor then finds them); after upgrading
lagosync, ``lagosync schema`` refreshes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import UserError
from .workspace.schema import SCHEMA_FILES, schema_text

SCHEMA_DIR = "schemas"  # in the workspace root: what the modelines name

# the schema of each workspace file, by its place in the workspace
_SCHEMA_OF = {"lagosync.yaml": "settings", "orgs.yaml": "orgs"}
_SCHEMA_BY_FOLDER = {"plans": "plans", "pricing_tests": "pricing_tests"}


def schema_for(rel: str) -> str | None:
    """The schema file name of the workspace file ``rel`` (``plans/pro.yaml`` -> ``plans.schema.json``)."""
    path = PurePosixPath(rel)
    name = _SCHEMA_OF.get(rel) or (_SCHEMA_BY_FOLDER.get(path.parts[0]) if len(path.parts) > 1 else None)
    return SCHEMA_FILES[name] if name else None


def modeline(rel: str) -> str:
    """The ``yaml-language-server`` modeline of the workspace file ``rel``, relative to that file."""
    schema = schema_for(rel)
    if schema is None:
        return ""
    depth = len(PurePosixPath(rel).parts) - 1
    up = "../" * depth if depth else "./"
    return f"# yaml-language-server: $schema={up}{SCHEMA_DIR}/{schema}\n"


@dataclass
class Written:
    """What a command wrote: paths (relative to its root) written, and those already up to date."""

    wrote: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"wrote {p}" for p in self.wrote]


def schema_files() -> dict[str, str]:
    """File name -> text of every JSON Schema this lagosync ships."""
    return {name: schema_text(name) for name in sorted(set(SCHEMA_FILES.values()))}


def write_schemas(folder: str | Path, *, only_missing: bool = False, base: str | Path | None = None) -> Written:
    """Write the JSON Schemas of this lagosync into ``folder`` (created); a file with other content is
    replaced (they are lagosync's files: this is how they are refreshed), unless ``only_missing``.
    Paths in the result are relative to ``base`` (default: the current directory)."""
    folder = Path(folder)
    done = Written()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in schema_files().items():
            path = folder / name
            rel = os.path.relpath(path, base or Path.cwd())
            if path.is_file() and (only_missing or path.read_text(encoding="utf-8") == text):
                done.unchanged.append(rel)
                continue
            path.write_text(text, encoding="utf-8")
            done.wrote.append(rel)
    except OSError as exc:
        raise UserError(f"{folder}: cannot write the JSON Schemas ({exc.strerror or exc})") from None
    return done
