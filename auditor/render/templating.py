"""Shared plumbing for the renderers: the Jinja environment and atomic, owner-only file writes.

Templates live in ``reports/templates/`` at the repository root. The wheel ships them as package data
at ``auditor/templates/`` (in the repository that path is a symlink to ``reports/templates``), so
``template_dir()`` finds them both in a checkout and in an installed copy.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from auditor.errors import RenderError

_REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"


def template_dir() -> Path:
    """Where the report templates are: installed package data first, then the repository checkout."""
    packaged = resources.files("auditor") / "templates"
    if packaged.is_dir() and (packaged / "report.html.j2").is_file():
        return Path(str(packaged))
    if _REPO_TEMPLATES.is_dir():
        return _REPO_TEMPLATES
    raise RenderError("The report templates are missing (expected auditor/templates or reports/templates).")


def make_environment(filters: dict[str, Callable[..., object]] | None = None) -> Environment:
    """A fresh Jinja environment (autoescape on for HTML templates, undefined names are errors)."""
    env = Environment(
        loader=FileSystemLoader(str(template_dir())),
        # Everything is HTML-escaped except the plain-text e-mail alternative (*.txt.j2).
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), disabled_extensions=("txt.j2",),
                                     default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters or {})
    return env


