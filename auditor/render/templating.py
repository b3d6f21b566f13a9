"""Shared plumbing for the renderers: the Jinja environment and atomic, owner-only file writes.

Templates live in ``reports/templates/`` at the repository root. The sdist and the wheel ship them as real
files of the package ``auditor.templates`` (setup.py maps that package onto ``reports/templates``), so
``template_dir()`` finds them both in an installed copy and in a checkout (including an editable install).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from auditor.errors import RenderError

_REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"


def template_dir() -> Path:
    """Where the report templates are: the installed package first, then the repository checkout."""
    packaged = resources.files("auditor") / "templates"
    if packaged.is_dir() and (packaged / "report.html.j2").is_file():
        return Path(str(packaged))
    if (_REPO_TEMPLATES / "report.html.j2").is_file():
        return _REPO_TEMPLATES
    raise RenderError(
        "The report templates are missing (expected the package's auditor/templates or a checkout's "
        "reports/templates); reinstall entra-auditor."
    )


def make_environment(filters: dict[str, Callable[..., object]] | None = None) -> Environment:
    """A fresh Jinja environment (autoescape on for HTML templates, undefined names are errors)."""
    env = Environment(
        loader=FileSystemLoader(str(template_dir())),
        # Everything is HTML-escaped except the plain-text e-mail alternative (*.txt.j2).
        autoescape=select_autoescape(
            enabled_extensions=("html.j2", "html"), disabled_extensions=("txt.j2",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters or {})
    return env
