"""PowerShell quoting for tenant-controlled text: identifiers become inert literals, labels inert comments.

Every value in a findings document comes from the audited tenant (anyone who can rename a mailbox or a
user controls its display name, and a findings.json on disk can be edited), so nothing from it may ever
become PowerShell code in a generated script:

* An **identifier** (mailbox id, user id) is written only as a single-quoted string literal. Inside one,
  PowerShell expands nothing (no ``$var``, no ``$(...)``, no backtick escapes); the only special
  characters are the quote characters, and PowerShell accepts four typographic quotes
  (U+2018, U+2019, U+201A, U+201B) as well as the ASCII apostrophe — each is doubled, which is how
  PowerShell's own ``CodeGeneration.EscapeSingleQuotedStringContent`` escapes them. As defence in depth an
  identifier that contains a line break, NUL or any other control/format character (Unicode bidi
  overrides included), a backtick or ``$(`` is refused outright (``UnsafeValue``): such a value is not a
  real Exchange or Entra identifier, and the script then carries a comment instead of a command.
* A **label** (display name, UPN, remediation text) only ever appears after ``#`` in a line comment. A
  line comment ends at a line break, so every character that could end the line, or reorder what a
  reviewer sees (bidi controls), is replaced; nothing else in a comment is interpreted.

The script is written as UTF-8 with a byte-order mark, so Windows PowerShell 5.1 does not read it as
ANSI (where the bytes of a non-ASCII name could decode to a typographic quote).
"""

from __future__ import annotations

import re
import unicodedata

# The characters PowerShell's tokenizer accepts as a single quote (System.Management.Automation.Language
# .CharExtensions.IsSingleQuote): ASCII apostrophe and the four typographic single quotes.
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
# Unicode categories never allowed in an identifier and replaced in a comment: control (Cc, includes
# CR/LF/NUL/NEL), format (Cf, includes bidi overrides and zero-width characters), surrogate, private use,
# unassigned, and line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SUBEXPRESSION = re.compile(r"\$\s*\(")
MAX_IDENTIFIER = 1024
REPLACEMENT = "?"


class UnsafeValue(ValueError):
    """A tenant value that cannot be written as a PowerShell identifier literal."""


def _unsafe_char(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def check_identifier(value: object) -> str:
    """``value`` as text if it is acceptable as an identifier; ``UnsafeValue`` (with the reason) if not."""
    if not isinstance(value, str) or not value.strip():
        raise UnsafeValue("empty or not text")
    if len(value) > MAX_IDENTIFIER:
        raise UnsafeValue(f"longer than {MAX_IDENTIFIER} characters")
    if any(_unsafe_char(ch) for ch in value):
        raise UnsafeValue("contains a line break, control or formatting character")
    if "`" in value:
        raise UnsafeValue("contains a backtick")
    if _SUBEXPRESSION.search(value):
        raise UnsafeValue("contains '$('")
    return value


def ps_literal(value: object) -> str:
    """A single-quoted PowerShell string literal whose value is exactly ``value`` (see module docstring)."""
    text = check_identifier(value)
    return "'" + "".join(ch * 2 if ch in SINGLE_QUOTES else ch for ch in text) + "'"


def comment_text(value: object, limit: int = 200) -> str:
    """``value`` made harmless for the rest of a ``#`` line comment: one line, no control/bidi characters,
    at most ``limit`` characters."""
    text = "" if value is None else str(value)
    text = "".join(REPLACEMENT if _unsafe_char(ch) else ch for ch in text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def comment_lines(text: object, width: int = 110, prefix: str = "# ") -> list[str]:
    """Wrap sanitised ``text`` into ``#`` comment lines of about ``width`` characters."""
    words = comment_text(text, 4000).split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(prefix + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(prefix + current)
    return lines
