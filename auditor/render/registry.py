"""The output registry: every report format is one ``@renderer`` in one module of ``auditor.render``.

    @renderer("xlsx", filename="report.xlsx", attach=True, order=20)
    def render_xlsx(context: ReportContext, path: Path) -> Path: ...

The known formats (``reports.formats``, ``--format``), what the pipeline writes and what the e-mail
attaches all derive from here. The built-in renderers register when their module is imported;
``renderers()`` imports every module of the ``auditor.render`` package once, so a new format is a new
module there and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import ConfigError

if TYPE_CHECKING:
    from auditor.render.context import ReportContext

RenderFn = Callable[["ReportContext", Path], Path]


@dataclass(frozen=True)
class Renderer:
    """One output format: its name, the file it writes in the report folder, and whether the e-mail attaches it."""

    format: str
    filename: str
    write: RenderFn
    attach: bool = False
    content_type: str | None = None
    order: int = 100  # position in format lists (``--format`` help, the default ``reports.formats``)
    default: bool = True  # written when ``reports.formats`` is not set (False: only when asked for)


_REGISTRY: dict[str, Renderer] = {}
_loaded = False
_lock = threading.RLock()  # a renderer module may ask for the formats while it is being imported


def renderer(
    format: str,
    *,
    filename: str,
    attach: bool = False,
    content_type: str | None = None,
    order: int = 100,
    default: bool = True,
) -> Callable[[RenderFn], RenderFn]:
    """Register ``fn(context, path) -> path`` as the renderer of ``format`` (writing ``filename``)."""
    if not format or format != format.strip().lower() or "," in format:
        raise ValueError(f"invalid format name {format!r}: lower case, no commas or spaces")
    if Path(filename).name != filename:
        raise ValueError(f"renderer filename {filename!r} must be a plain file name")

    def register(fn: RenderFn) -> RenderFn:
        existing = _REGISTRY.get(format)
        if existing is not None and _where(existing.write) != _where(fn):  # a module reload re-registers
            raise ValueError(f"format {format!r} is already registered by {_where(existing.write)}")
        _REGISTRY[format] = Renderer(format, filename, fn, attach, content_type, order, default)
        return fn

    return register


def _where(fn: RenderFn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def unregister(format: str) -> None:
    """Forget a format (for tests that register a throwaway renderer)."""
    _REGISTRY.pop(format, None)


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        import auditor.render as package

        for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
            importlib.import_module(info.name)
        _loaded = True


def renderers() -> list[Renderer]:
    """Every registered renderer, in display order."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda r: (r.order, r.format))


def formats() -> tuple[str, ...]:
    """The names of every output format, in display order."""
    return tuple(r.format for r in renderers())


def get(format: str) -> Renderer:
    """The renderer of ``format``; ``ConfigError`` naming the known formats when there is none."""
    _load_builtin()
    found = _REGISTRY.get(format)
    if found is None:
        raise ConfigError(f"Unknown output format {format!r}; available formats: {', '.join(formats())}.")
    return found


def selected(names: Sequence[str] | None) -> list[Renderer]:
    """The renderers of ``names`` (each once, in the given order); ``None`` selects the default formats."""
    if names is None:
        return [r for r in renderers() if r.default]
    return [get(name) for name in dict.fromkeys(names)]


def validate_formats(names: Sequence[str] | None, origin: str = "configuration") -> None:
    """Check the configuration's ``reports.formats`` against the registry (``ConfigError`` naming the entry)."""
    for i, name in enumerate(names or ()):
        if name not in formats():
            raise ConfigError(
                f"{origin}: invalid value for 'reports.formats[{i}]': unknown format {name!r}; "
                f"available formats: {', '.join(formats())}."
            )


def unknown(names: Sequence[str]) -> list[str]:
    """The names in ``names`` that are not registered formats."""
    known = set(formats())
    return [n for n in names if n not in known]


def attachments() -> list[Renderer]:
    """The renderers whose file the report e-mail attaches."""
    return [r for r in renderers() if r.attach]


def content_type(filename: str) -> str | None:
    """The MIME type a renderer declares for ``filename``, if any."""
    return next((r.content_type for r in renderers() if r.filename == filename and r.content_type), None)
