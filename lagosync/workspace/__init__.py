"""The workspace: the YAML files a user writes, their schemas and validation (issue 2).

See docs/ARCHITECTURE.md, "Workspace".
"""

from .loader import (
    declared_orgs_at_most,
    find_root,
    load_settings,
    load_workspace,
    validate_workspace,
    validation_report,
)
from .model import KINDS, Environment, Location, Settings, Workspace
from .state import ensure_state_dir, state_dir

__all__ = [
    "KINDS",
    "Environment",
    "Location",
    "Settings",
    "Workspace",
    "declared_orgs_at_most",
    "ensure_state_dir",
    "find_root",
    "load_settings",
    "load_workspace",
    "state_dir",
    "validate_workspace",
    "validation_report",
]
