"""Kubernetes manifests: schema-valid (strict), restricted pod security, wired to real config and CLI."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from deploy_files import DEPLOY, cli_accepts, yaml_docs
from sqlalchemy import make_url

from auditor.config import parse_config

K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.31.0"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _all():
    return [(p.name, d) for p in MANIFESTS for d in yaml_docs(p)]


def _pod_specs():
    for name, doc in _all():
        spec = doc.get("spec", {})
        if doc["kind"] == "Deployment":
            yield name, spec["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield name, spec["jobTemplate"]["spec"]["template"]["spec"]


def test_every_manifest_is_valid_against_the_kubernetes_schema():
    kinds = set()
    for name, doc in _all():
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), name
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message} at {list(exc.path)}")
        kinds.add(doc["kind"])
    assert {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "CronJob"} <= kinds


def test_the_validator_rejects_a_misspelt_field():
    doc = yaml_docs(K8S / "worker-deployment.yaml")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_pods_run_as_non_root_with_a_locked_down_container():
    specs = dict(_pod_specs())
    assert set(specs) == {"scheduler-deployment.yaml", "worker-deployment.yaml", "audit-cronjob.yaml"}
    for name, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            image = c["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image}"
            assert c["resources"]["limits"]["memory"], name
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            assert mounts["/etc/entra-auditor"]["readOnly"] is True
            assert "/tmp" in mounts and "/var/lib/entra-auditor" in mounts


def test_namespace_enforces_the_restricted_pod_security_standard():
    ns = yaml_docs(K8S / "namespace.yaml")[0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_containers_run_real_cli_commands():
    commands = {}
    for name, spec in _pod_specs():
        for c in spec["containers"]:
            cli_accepts(c["args"])
            commands[name] = c["args"][0]
    assert commands == {
        "scheduler-deployment.yaml": "schedule",
        "worker-deployment.yaml": "worker",
        "audit-cronjob.yaml": "audit",
    }
    cron = yaml_docs(K8S / "audit-cronjob.yaml")[0]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid" and cron["suspend"] is True


def test_references_resolve_and_config_is_valid():
    by_kind = {}
    for _, doc in _all():
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    config_text = by_kind["ConfigMap"]["entra-auditor-config"]["data"]["auditor.yaml"]
    config = parse_config(yaml.safe_load(config_text), origin="configmap auditor.yaml")
    assert config_text == (DEPLOY / "config" / "auditor.yaml").read_text()
    secret = by_kind["Secret"]["entra-auditor-secrets"]["stringData"]
    needed = {"PGPASSWORD", "ENTRA_AUDITOR_BROKER_URL"}
    for tenant in config.tenants:
        needed |= {v for v in (tenant.client_secret_env, tenant.certificate_password_env) if v}
    assert needed <= set(secret), f"secret template lacks {needed - set(secret)}"
    assert all("REPLACE-ME" in v for v in secret.values()), "secret template holds a real value"
    assert make_url(config.storage.url).password is None, "password in storage.url"
    for name, spec in _pod_specs():
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["config"]["configMap"]["name"] in by_kind["ConfigMap"], name
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] in by_kind["PersistentVolumeClaim"]
        for c in spec["containers"]:
            assert c["envFrom"][0]["secretRef"]["name"] in by_kind["Secret"], name


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(p.name for p in MANIFESTS if p.name != "secret.example.yaml")
