"""The Docker build context of deploy/Dockerfile, as its ``Dockerfile.dockerignore`` admits it.

Implements the .dockerignore rules (moby/patternmatcher): patterns are matched against the path relative to
the context root with Go ``filepath.Match`` semantics plus ``**``; a pattern that matches a parent folder
matches everything below it; ``!`` re-includes; the last matching pattern decides. Symlinks are copied as
symlinks, as the builder sends them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def read_rules(ignore_file: Path) -> list[tuple[bool, re.Pattern[str], str]]:
    """(exclude?, compiled pattern, cleaned pattern) for each rule line."""
    rules = []
    for raw in ignore_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if include else line).lstrip("/")
        rules.append((not include, _regex(pattern), pattern))
    return rules


def excluded(rel: str, rules: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for exclude, regex, _ in rules:
        if any(regex.match(p) for p in prefixes):
            result = exclude
    return result


def _may_reinclude(rel_dir: str, rules: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Whether some ``!`` rule could admit a path below the excluded folder ``rel_dir``."""
    for exclude, _, pattern in rules:
        if not exclude and (pattern.startswith(rel_dir + "/") or pattern.startswith("*")):
            return True
    return False


def context_files(root: Path, ignore_file: Path) -> list[str]:
    """Relative paths of every file and symlink the build context holds."""
    rules = read_rules(ignore_file)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name == ".git" and not rel_dir:
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                if not excluded(rel, rules):
                    found.append(rel)
                continue
            if not excluded(rel, rules) or _may_reinclude(rel, rules):
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if not excluded(rel, rules):
                found.append(rel)
    return found


def copy_context(root: Path, ignore_file: Path, dest: Path) -> list[str]:
    """Copy exactly what the build context admits into ``dest``; returns the relative paths copied."""
    files = context_files(root, ignore_file)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        source = root / rel
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return files
