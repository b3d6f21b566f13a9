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
from markupsafe import Markup

from auditor.errors import RenderError
from auditor.render.evidence import thousands
from auditor.render.safe import one_line as one_line_filter
from auditor.render.safe import visible

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


def _visible_output(value: object) -> object:
    """Every ``{{ ... }}`` output: tenant text shows bidi overrides and NUL as ``[U+XXXX]`` markers
    (Markup, already-safe HTML the renderer built, passes untouched)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def _one_line_output(value: object) -> object:
    """The plain-text e-mail: every output also on one line (a line break in tenant text adds no line)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return one_line_filter(value)
    return value


def make_environment(filters: dict[str, Callable[..., object]] | None = None, *, one_line: bool = False) -> Environment:
    """A fresh Jinja environment (autoescape on for HTML templates, undefined names are errors).

    Every output passes ``render.safe.visible`` (also the ``visible`` filter); ``one_line`` (the plain-text
    e-mail) also folds line breaks in every output. The ``n`` filter writes a count with thousands separators
    (``{{ 73327|n }}`` -> 73,327): every count in a template goes through it."""
    env = Environment(
        finalize=_one_line_output if one_line else _visible_output,
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
    env.filters.update({"visible": visible, "one_line": one_line_filter, "n": thousands})
    env.filters.update(filters or {})
    return env
