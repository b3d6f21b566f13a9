"""compose.yaml: the scale-out stack is complete, hardened, healthy-gated and holds no secret."""

from __future__ import annotations

import re

import yaml
from deploy_files import DEPLOY, cli_accepts

from auditor.config import load_config

COMPOSE = DEPLOY / "compose.yaml"
SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|PASS|KEY)$|_URL$", re.IGNORECASE)


def _compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_roles():
    services = _compose()["services"]
    assert set(services) == {"scheduler", "worker", "postgres", "rabbitmq"}
    cli_accepts(services["scheduler"]["command"])
    cli_accepts(services["worker"]["command"])
    assert services["scheduler"]["command"][:2] == ["schedule", "--dispatch"]
    assert services["worker"]["command"][0] == "worker"
    assert services["worker"]["deploy"]["replicas"] >= 3


def test_auditor_containers_are_hardened_and_wait_for_healthy_dependencies():
    services = _compose()["services"]
    for name in ("scheduler", "worker"):
        svc = services[name]
        user = svc["user"].split(":")[0]
        assert user not in ("0", "root") and int(user) == 10001, name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
        }, name
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert not svc["image"].endswith(":latest")
        assert any(v.endswith(":/etc/entra-auditor/auditor.yaml:ro") for v in svc["volumes"]), name
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name


def test_no_secret_is_written_in_the_compose_file():
    for name, svc in _compose()["services"].items():
        for key in svc.get("environment") or {}:
            assert not SECRETISH.search(key), f"{name}: {key} must come from an env_file, not compose.yaml"
        for env_file in svc.get("env_file", []):
            assert (DEPLOY / f"{env_file}.example").exists(), f"{name}: no template for {env_file}"
            assert not (DEPLOY / env_file).exists() or ".env" in (DEPLOY / ".gitignore").read_text()
    assert "*.env" in (DEPLOY / ".gitignore").read_text().split()
    templates = list(DEPLOY.glob("*.env.example"))
    assert templates
    for t in templates:  # templates carry no values for secrets (only placeholders or blanks)
        for line in t.read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                if key.endswith(("PASSWORD", "SECRET", "PASS")):
                    assert value == "", f"{t.name}: {key} has a value"
                if "://" in value:
                    assert "CHANGE-ME" in value, f"{t.name}: {key}"


def test_the_mounted_config_is_valid_and_postgres_is_password_free():
    config = load_config(DEPLOY / "config" / "auditor.yaml")
    assert config.storage.url.startswith("postgresql+psycopg://auditor@postgres:5432/")
    assert config.reports.dir.startswith("/var/lib/entra-auditor/")


def test_rabbitmq_lets_long_audits_hold_their_message():
    text = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    timeout_ms = int(re.search(r"^consumer_timeout\s*=\s*(\d+)", text, re.MULTILINE)[1])
    assert timeout_ms >= 3 * 3600 * 1000
    volumes = _compose()["services"]["rabbitmq"]["volumes"]
    assert any(v.startswith("./rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/") for v in volumes)
