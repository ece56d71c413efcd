"""Renderers of a ``Plan``: text (terminal), markdown (PR comments), json (the plan document)."""

from __future__ import annotations

from ..errors import UserError
from ..planner import Plan
from .json import render_json
from .markdown import GITHUB_COMMENT_LIMIT, render_markdown
from .text import render_text

FORMATS = ("text", "markdown", "json")


def render(plan: Plan, fmt: str = "text", *, color: bool = False, warnings: list[str] | tuple = (),
           verbose: bool = False) -> str:
    """Render ``plan`` in ``fmt``; ``warnings`` (e.g. a stale saved plan) are shown first. A create
    shows the fields it sets apart from Lago's defaults; ``verbose``: every field (text, markdown)."""
    if fmt == "text":
        return render_text(plan, color=color, warnings=warnings, verbose=verbose)
    if fmt == "markdown":
        return render_markdown(plan, warnings=warnings, verbose=verbose)
    if fmt == "json":
        return render_json(plan, warnings=warnings)
    raise UserError(f"unknown format {fmt!r} (use one of: {', '.join(FORMATS)})")


__all__ = ["FORMATS", "GITHUB_COMMENT_LIMIT", "render", "render_json", "render_markdown", "render_text"]
