"""Tenant-controlled text printed on a terminal.

Entity names, API error messages and other tenant or service text are untrusted: control characters
(escape sequences that could drive the terminal, bidirectional overrides that could disguise a name)
are replaced before printing.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(value: object, width: int = 80) -> str:
    """``value`` as one printable line, at most ``width`` characters."""
    text = _CONTROL.sub("?", str(value))
    return text if len(text) <= width else text[: width - 1] + "…"
