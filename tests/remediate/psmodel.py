"""A small, independent model of how PowerShell tokenizes the lines our remediation scripts contain.

It mirrors the tokenizer rules that matter for injection (System.Management.Automation.Language.Tokenizer):
a single-quoted string starts and ends at any of the five single-quote characters (ASCII ' and
U+2018..U+201B); inside it, two quote characters in a row stand for the second one and nothing else is
special; ``#`` outside a string starts a comment that runs to the end of the line. ``skeleton`` replaces
every string literal with ``<S>`` and every comment with ``#``, so a test can check that whatever a tenant
value contained, the code around it is exactly one of the generator's own templates.
"""

from __future__ import annotations

QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
DOUBLE_QUOTES = frozenset('"\u201c\u201d\u201e')


def read_single_quoted(line: str, start: int) -> tuple[str, int]:
    """The value of the single-quoted literal opening at ``line[start]`` and the index after it."""
    assert line[start] in QUOTES
    value = []
    i = start + 1
    while i < len(line):
        ch = line[i]
        if ch in QUOTES:
            if i + 1 < len(line) and line[i + 1] in QUOTES:
                value.append(line[i + 1])
                i += 2
                continue
            return "".join(value), i + 1
        value.append(ch)
        i += 1
    raise AssertionError(f"unterminated single-quoted string in {line!r}")


def skeleton(line: str) -> tuple[str, list[str]]:
    """``line`` with literals as ``<S>`` and the comment as ``#``; and the literal values, in order."""
    out: list[str] = []
    literals: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch in QUOTES:
            value, i = read_single_quoted(line, i)
            literals.append(value)
            out.append("<S>")
        elif ch in DOUBLE_QUOTES:  # only our own fixed templates use double quotes: keep them verbatim
            end = next(j for j in range(i + 1, len(line)) if line[j] in DOUBLE_QUOTES)
            out.append(line[i : end + 1])
            i = end + 1
        elif ch == "#":
            out.append("#")
            break
        else:
            out.append(ch)
            i += 1
    return "".join(out).rstrip(), literals
