"""The package as the container image gets it: built from exactly the Docker build context, installed
without extras into a fresh virtual environment, it renders the demo's HTML report, workbook and e-mail.

This is what the image does (``pip install .`` over ``deploy/Dockerfile.dockerignore``'s allow-list), minus
the container: the sdist is built from a clean copy of the context, the wheel from the unpacked sdist (so
both must carry the report templates), and the CLI runs from the fresh venv against a real SMTP server on
loopback.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from build_context import context_files, copy_context
from deploy_files import DEPLOY, REPO

IGNORE = DEPLOY / "Dockerfile.dockerignore"
TEMPLATES = REPO / "reports" / "templates"
SIM_ONLY = ("aiohttp", "trustme")


def _run(args: list[str], cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _clean_env() -> dict[str, str]:
    """The caller's environment without variables that would point Python at this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ENTRA_AUDITOR_CONFIG", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """sdist from a clean copy of the build context, wheel from the unpacked sdist, both in a fresh venv."""
    base = tmp_path_factory.mktemp("package")
    context = base / "context"
    copy_context(REPO, IGNORE, context)
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "--quiet", "setuptools>=69", "wheel"], env=_clean_env())
    dist = base / "dist"
    build = "import sys; from setuptools import build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"
    sdist = dist / _run([str(py), "-c", build, "build_sdist", str(dist)], cwd=context, env=_clean_env()).split()[-1]
    unpacked = base / "unpacked"
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked, filter="data")
    (source,) = unpacked.iterdir()
    wheel = dist / _run([str(py), "-c", build, "build_wheel", str(dist)], cwd=source, env=_clean_env()).split()[-1]
    _run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], env=_clean_env())
    return {"venv": venv, "sdist": sdist, "wheel": wheel, "base": base}


def test_the_build_context_holds_the_templates_as_real_files():
    files = context_files(REPO, IGNORE)
    assert "pyproject.toml" in files and "auditor/cli.py" in files
    assert not any(f.startswith((".venv/", "tests/", "config/", ".git/")) for f in files)
    for template in TEMPLATES.iterdir():
        assert f"reports/templates/{template.name}" in files, template.name
    symlinks = [f for f in files if (REPO / f).is_symlink()]
    assert symlinks == [], f"symlinks dangle in the build context (and break Windows checkouts): {symlinks}"


def test_sdist_and_wheel_carry_every_template(built):
    expected = sorted(p.name for p in TEMPLATES.iterdir() if p.is_file())
    assert expected, "no templates in reports/templates"
    with tarfile.open(built["sdist"]) as tar:
        in_sdist = sorted(Path(n).name for n in tar.getnames() if "/reports/templates/" in n)
    assert in_sdist == expected
    with zipfile.ZipFile(built["wheel"]) as whl:
        names = whl.namelist()
    assert sorted(n.split("/")[-1] for n in names if n.startswith("auditor/templates/")) == expected
    assert "auditor/demo/demo-tenant.json.gz" in names


def test_a_plain_install_has_no_simulator_or_unused_dependency(built):
    py = str(built["venv"] / "bin" / "python")
    away = built["base"]  # not the checkout's cwd, where an editable install's egg-info lies
    for module in (*SIM_ONLY, "openpyxl"):
        proc = subprocess.run(
            [py, "-c", f"import {module}"], capture_output=True, text=True, env=_clean_env(), cwd=away
        )
        assert proc.returncode != 0, f"{module} is installed by a plain `pip install .`"
    script = "import json; from importlib.metadata import requires; print(json.dumps(requires('entra-auditor')))"
    requires = json.loads(_run([py, "-c", script], cwd=away, env=_clean_env()))
    core = [r for r in requires if "extra ==" not in r]
    assert not [r for r in core if r.startswith((*SIM_ONLY, "openpyxl"))], core
    sim = [r for r in requires if 'extra == "sim"' in r]
    assert {r.split(">")[0].split(";")[0] for r in sim} >= set(SIM_ONLY), requires


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls this hook by name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_installed_package_renders_the_demo_report_workbook_and_email(built, tmp_path):
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = tmp_path / "auditor.yaml"
        config.write_text(
            f"storage:\n  url: sqlite:///{tmp_path / 'history.db'}\n"
            "email:\n  transport: smtp\n  sender: audit@contoso.test\n  to: [secops@contoso.test]\n"
            f"  smtp:\n    host: 127.0.0.1\n    port: {port}\n    starttls: false\n"
        )
        out = tmp_path / "reports"
        workdir = tmp_path / "elsewhere"  # not the checkout: nothing may come from reports/templates here
        workdir.mkdir()
        cli = str(built["venv"] / "bin" / "entra-auditor")
        proc = subprocess.run(
            [cli, "audit", "--demo", "--email", "-c", str(config), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=workdir,
            env=_clean_env(),
        )
    finally:
        controller.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "templates are missing" not in proc.stderr
    html = next(out.rglob("*.html"))
    xlsx = next(out.rglob("*.xlsx"))
    page = html.read_text()
    assert "<html" in page and "contoso" in page and "admin-app-passwords" in page
    with zipfile.ZipFile(xlsx) as book:
        assert "xl/workbook.xml" in book.namelist()
        assert any(n.startswith("xl/worksheets/sheet") for n in book.namelist())
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert "contoso" in message["Subject"]
    bodies = {part.get_content_type() for part in message.walk() if not part.is_attachment()}
    assert {"text/plain", "text/html"} <= bodies
    attachments = [part.get_filename() for part in message.iter_attachments()]
    assert attachments, "the e-mail carries no report"


def _run_image_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """deploy/build-image.sh on a PATH without podman, debootstrap or apt-get."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "id"):
        target = bin_dir / tool
        if not target.exists():
            target.symlink_to(shutil.which(tool))
    clean = {"PATH": str(bin_dir), "HOME": str(tmp_path), **env}
    return subprocess.run(
        [str(bin_dir / "bash"), str(DEPLOY / "build-image.sh")], capture_output=True, text=True, timeout=60, env=clean
    )


def test_the_image_build_skips_visibly_without_podman_but_fails_in_ci(tmp_path):
    skipped = _run_image_script(tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stdout.startswith("SKIP: container image not built:") and "cannot be installed" in skipped.stdout
    for required in ({"CI": "true"}, {"ENTRA_AUDITOR_REQUIRE_SERVICES": "1"}):
        failed = _run_image_script(tmp_path, **required)
        assert failed.returncode == 1 and "FAILED" in failed.stderr and "SKIP" not in failed.stdout, required
