"""Every deployment (image, compose stack, Kubernetes manifests, systemd units) runs commands the CLI has and
sets only environment variables the product reads.

A variable counts as read when the package (not its simulator) holds its name as a string literal (what
``os.environ.get("NAME")`` needs), when the deployment's configuration names it for a secret
(``client_secret_env`` and friends), or when it is one of libpq's (the PostgreSQL driver reads PGPASSWORD).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from deploy_files import DEPLOY, REPO, cli_accepts, exec_args, unit_file, unit_values, yaml_docs
from test_deploy_dockerfile import _stages

from auditor.config import load_config

PACKAGE = REPO / "auditor"
CONFIGS = [DEPLOY / "config" / "auditor.yaml", REPO / "config" / "auditor.example.yaml"]
# libpq's environment (https://www.postgresql.org/docs/current/libpq-envars.html), read by psycopg.
LIBPQ = {
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGDATABASE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGAPPNAME",
    "PGCONNECT_TIMEOUT",
}
# What the Python interpreter and the shell read in the image.
INTERPRETER = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
AUDITOR_SERVICES = ("scheduler", "worker")
ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


@cache
def package_literals() -> frozenset[str]:
    """Every string constant of the product's code (the simulator is the test bench, not the product)."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "sim" in path.relative_to(PACKAGE).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return frozenset(found)


@cache
def config_named() -> frozenset[str]:
    """Variables the deployments' configuration files name for secrets."""
    names: set[str] = set()
    for path in CONFIGS:
        config = load_config(path)
        for tenant in config.tenants:
            names |= {tenant.client_secret_env, tenant.certificate_password_env}
        smtp = config.email.smtp if config.email else None
        if smtp:
            names |= {smtp.username_env, smtp.password_env}
    return frozenset(n for n in names if n)


def why_read(name: str) -> str | None:
    if name in package_literals():
        return "package"
    if name in config_named():
        return "config"
    if name in LIBPQ:
        return "libpq"
    if name in INTERPRETER:
        return "interpreter"
    return None


def env_file_names(path: Path) -> set[str]:
    """Variables of an env file template, including commented-out ``# NAME=`` lines."""
    return {m[1] for line in path.read_text().splitlines() if (m := ENV_LINE.match(line.strip()))}


def _compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]


def _k8s_containers():
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml_docs(path):
            spec = doc.get("spec", {})
            pod = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template") or {}
            for container in pod.get("spec", {}).get("containers", []):
                yield path.name, container


def _services():
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        yield path.name, unit_file(path)


def deployed_commands() -> list[tuple[str, list[str]]]:
    """(where, CLI arguments) of every command a deployment runs through the ``entra-auditor`` entrypoint."""
    commands = [("Dockerfile CMD", json.loads(dict(_stages()[-1]["body"])["CMD"]))]
    commands += [(f"compose {name}", _compose()[name]["command"]) for name in AUDITOR_SERVICES]
    commands += [(f"kubernetes {name}", c["args"]) for name, c in _k8s_containers()]
    for name, unit in _services():
        args = exec_args(unit_values(unit, "Service", "ExecStart")[0])
        assert args[0].endswith("/entra-auditor"), f"{name} does not start the CLI"
        commands.append((f"systemd {name}", args[1:]))
    return commands


def deployed_probes() -> list[tuple[str, list[str]]]:
    """(where, argv) of the health probes, which run ``python -m MODULE``."""
    probes = [(f"compose {n}", _compose()[n]["healthcheck"]["test"][1:]) for n in AUDITOR_SERVICES]
    probes += [
        (f"kubernetes {n}", c["livenessProbe"]["exec"]["command"]) for n, c in _k8s_containers() if "livenessProbe" in c
    ]
    health = dict(_stages()[-1]["body"])["HEALTHCHECK"]
    probes.append(("Dockerfile HEALTHCHECK", json.loads(health.split("CMD", 1)[1].strip())))
    return probes


def deployed_variables() -> list[tuple[str, str]]:
    """(where, NAME) of every environment variable a deployment sets for the auditor."""
    out: list[tuple[str, str]] = []
    for name in AUDITOR_SERVICES:
        svc = _compose()[name]
        out += [(f"compose {name}", key) for key in svc.get("environment") or {}]
        for env_file in svc.get("env_file", []):
            out += [(f"compose {env_file}.example", key) for key in env_file_names(DEPLOY / f"{env_file}.example")]
    for name, container in _k8s_containers():
        out += [(f"kubernetes {name}", e["name"]) for e in container.get("env", [])]
    for doc in yaml_docs(DEPLOY / "kubernetes" / "secret.example.yaml"):
        out += [("kubernetes secret.example.yaml", key) for key in doc.get("stringData", {})]
    for name, unit in _services():
        for assignment in unit_values(unit, "Service", "Environment"):
            out += [(f"systemd {name}", word.split("=", 1)[0]) for word in exec_args(assignment)]
    out += [
        ("systemd entra-auditor.env.example", key)
        for key in env_file_names(DEPLOY / "systemd" / "entra-auditor.env.example")
    ]
    for word, rest in _stages()[-1]["body"]:
        if word == "ENV":
            out += [("Dockerfile ENV", m) for m in re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=", rest)]
    return out


def test_every_deployed_command_exists_in_the_cli():
    commands = deployed_commands()
    seen = {args[0] for _, args in commands}
    assert {"schedule", "worker", "audit"} <= seen
    assert ["schedule", "--dispatch"] in [args for _, args in commands]
    for where, args in commands:
        try:
            cli_accepts(args)
        except SystemExit as exc:
            pytest.fail(f"{where}: `entra-auditor {' '.join(args)}` is not a CLI command (exit {exc.code})")


def test_the_check_rejects_a_command_the_cli_lacks():
    with pytest.raises(SystemExit):
        cli_accepts(["schedule", "--dispach"])
    with pytest.raises(SystemExit):
        cli_accepts(["workers"])


def test_every_health_probe_runs_a_real_module():
    probes = deployed_probes()
    assert len(probes) >= 5
    for where, argv in probes:
        assert argv[:2] == ["python", "-m"], f"{where}: {argv}"
        assert importlib.util.find_spec(argv[2]) is not None, f"{where}: no module {argv[2]}"


def test_every_deployed_environment_variable_is_read_by_the_product():
    variables = deployed_variables()
    names = {name for _, name in variables}
    assert {"ENTRA_AUDITOR_CONFIG", "ENTRA_AUDITOR_BROKER_URL", "PGPASSWORD", "CONTOSO_SECRET"} <= names
    unread = sorted({f"{where}: {name}" for where, name in variables if why_read(name) is None})
    assert unread == [], "set by a deployment but read by nothing:\n" + "\n".join(unread)


def test_the_check_rejects_a_variable_nothing_reads():
    assert why_read("ENTRA_AUDITOR_CONFIG") == "package"
    assert why_read("ENTRA_AUDITOR_BROKER_URL") == "package"
    assert why_read("CONTOSO_SECRET") == "config"
    assert why_read("ENTRA_AUDITOR_CONFG") is None  # a typo
    assert why_read("ENTRA_AUDITOR_SIM_SECRET") is None  # only the simulator reads it
