"""The rule catalog as Markdown, generated from the registry (the README's rule list).

    python -m auditor.rules.catalog --write README.md   # refresh the block between the rules markers

Benchmark references marked ``~`` are adjacent (the control is wider or narrower than the rule).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from auditor.rules import REGISTRY, RuleSpec

START, END = "<!-- rules:start", "<!-- rules:end -->"


def references_cell(spec: RuleSpec) -> str:
    """The rule's references, short: benchmark ids (adjacent ones marked ~) and its Microsoft Learn pages as links."""
    parts = []
    for ref in spec.references:
        if ref.framework == "Microsoft Learn":
            parts.append(f"[Learn]({ref.url})")
        else:
            label = f"{ref.framework} {ref.id}" if ref.framework.startswith("CIS ") else ref.id
            parts.append(("~" if ref.relation == "adjacent" else "") + (f"[{label}]({ref.url})" if ref.url else label))
    return ", ".join(parts)


def markdown_table() -> str:
    lines = ["| id | severity | what it detects | needs | rests on |", "|---|---|---|---|---|"]
    for spec in REGISTRY.values():
        severity = spec.severity + (f" ({spec.escalation})" if spec.escalation else "")
        params = ", ".join(f"`{k}`={v}" for k, v in spec.params.items())
        what = " ".join(spec.detection.split()) + (f" Parameters: {params}." if params else "")
        lines.append(
            f"| `{spec.id}` | {severity} | **{spec.title}.** {what} | {', '.join(spec.needs)} | "
            f"{references_cell(spec)} |"
        )
    return "\n".join(lines)


def refresh(text: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    block = (
        f"{START} (generated from the registry: `python -m auditor.rules.catalog --write README.md`) -->\n"
        f"{markdown_table()}\n{END}"
    )
    if not pattern.search(text):
        raise ValueError("the rules markers are missing")
    return pattern.sub(lambda _: block, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="file whose rules block to refresh")
    args = parser.parse_args()
    if args.write:
        args.write.write_text(refresh(args.write.read_text()))
    else:
        print(markdown_table())


if __name__ == "__main__":
    main()
