"""The loaded workspace: plain dataclasses (see docs/ARCHITECTURE.md, "Workspace")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..kinds import KINDS, PRICE_CHANGES
from .yamlpos import format_path

__all__ = ["KINDS", "LOCAL", "PRICE_CHANGES", "Environment", "Location", "Settings", "Sources", "Workspace"]

LOCAL = "local"


@dataclass(frozen=True)
class Location:
    """Where an object is declared: file relative to the workspace root, 1-based line/column."""

    file: str
    line: int
    column: int
    path: str = ""  # path inside the document, e.g. "plans[2]"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Sources(Mapping[tuple[str, str], Location]):
    """Where each declared object is, by (kind, key): found in its file when first asked (a clean
    plan of a large workspace asks for none)."""

    def __init__(self, declared: dict[str, dict[str, tuple]]):
        # kind -> key -> (yamlpos.Document, *path inside it): one tuple per object (a workspace of
        # 100,000 orgs holds 200,000 of them)
        self._declared = declared

    def __getitem__(self, item: tuple[str, str]) -> Location:
        try:
            kind, key = item
        except (TypeError, ValueError):
            raise KeyError(item) from None
        where = self._declared.get(kind, {})[key]
        doc, path = where[0], where[1:]
        line, column = doc.where(path)
        return Location(doc.file, line, column, format_path(path))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((kind, key) for kind, keys in self._declared.items() for key in keys)

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._declared.values())


@dataclass
class Environment:
    name: str
    api_url: str | None = None
    api_key_env: str | None = None
    organization: str | None = None
    emulator: bool = False  # True for `local`: the embedded emulator stored under <root>/.lagosync/
    # the Lago has a premium license (the API does not say: lago-behaviour#premium-not-reported); the
    # local emulator then behaves like one
    premium: bool = False


@dataclass
class Settings:
    environments: dict[str, Environment] = field(default_factory=dict)
    default_environment: str = LOCAL
    org_id_prefix: str | None = None
    user_id_prefix: str | None = None
    ignore: list[dict] = field(default_factory=list)
    price_change: str = "in_place"  # the plans' default policy (PRICE_CHANGES)
    policies: list[dict] = field(default_factory=list)  # billing policies (lagosync.planner.policies)


@dataclass
class Workspace:
    root: Path
    settings: Settings
    desired: dict[str, dict[str, dict]]
    sources: Mapping[tuple[str, str], Location]
    digest: str
    files: list[str] = field(default_factory=list)  # workspace files read, relative posix paths

    @property
    def object_count(self) -> int:
        return sum(len(v) for v in self.desired.values())
