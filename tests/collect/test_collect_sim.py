"""The collector against the simulator: real MSAL + httpx over HTTPS on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import math

import pytest
from simkit import SECRET_ENV, canon, expected, got_records, sim_config

from auditor.collect import collect_tenants
from auditor.collect.collector import Limits, collect_tenant_async
from auditor.doctor import doctor
from auditor.errors import AuthError
from auditor.sim import SimOptions, SimTenant
from auditor.sim.tenant_gen import GenOptions, generate_tenant
from auditor.snapshot import Snapshot
from auditor.sources import SOURCES

# The simulator runs without report/CA limits in most tests, so the client need not pace for them.
FAST = Limits(backoff_base=0.05, reports_per_10s=1000, ca_per_second=1000)


def collect(config, *, now=None, sources=None, limits=FAST, progress=None):
    tenant = config.tenants[0]
    return asyncio.run(collect_tenant_async(tenant, config, now=now, sources=sources, limits=limits, progress=progress))


def assert_same_records(served: Snapshot, got: Snapshot, names=None) -> None:
    for name in names or SOURCES:
        want, have = served.sources[name], got.sources[name]
        if want.status != "collected":
            # a licence refusal is skipped (the source does not exist for the tenant); anything else failed
            unlicensed = SOURCES[name].licence and any(
                w in (want.reason or "").lower() for w in ("licen", "premium", "p1", "p2")
            )
            status = "skipped" if unlicensed else "failed"
            assert have.status == status, f"{name}: expected {status}, got {have.status}"
            continue
        assert have.status == "collected", f"{name}: {have.reason}"
        assert canon(got_records(got, name)) == canon(expected(served, name)), f"{name}: differ"
        if name != "sign_in_activity":
            assert have.items == want.items, name


def test_round_trip_many_pages_every_source(running_sim, sim_secret) -> None:
    served = generate_tenant(150, seed=3)
    opts = SimOptions(
        default_page=3,
        sign_in_page=7,
        exo_default_page=4,
        reports_per_10s=None,
        ca_per_second=None,
        identity_budget_units=None,
    )
    events = []
    with running_sim(served, options=opts) as sim:
        run = collect(
            sim_config(sim, served), now=served.collected_at, progress=lambda s, st, n: events.append((s, st, n))
        )
        stats = sim.stats
    assert_same_records(served, run.snapshot)
    assert run.snapshot.tenant["tenant_id"] == served.tenant_id
    assert run.snapshot.tenant["default_domain"]
    # paging really happened: many pages per list source, all nextLinks followed
    assert stats.requests_by_route["users"] >= 2
    assert stats.requests_by_route["role_definitions"] >= math.ceil(len(served.records("role_definitions")) / 3)
    assert stats.requests_by_route["conditional_access"] >= math.ceil(len(served.records("conditional_access")) / 3)
    assert stats.requests_by_route["sign_ins"] >= math.ceil(len(served.records("sign_ins")) / 7)
    assert run.notes["per_user_mfa_path"] == "bulk"
    assert ("users", "collected", len(served.records("users"))) in events
    assert {s for s, st, _ in events if st == "started"} == set(SOURCES)


def test_unlicensed_tenant_falls_back_and_names_the_licence(running_sim, sim_secret) -> None:
    served = generate_tenant(40, seed=5, options=GenOptions(licence="free"))
    with running_sim(served) as sim:
        snap = collect(sim_config(sim, served), now=served.collected_at).snapshot
    assert_same_records(served, snap)
    assert "signInActivity" not in snap.records("users")[0]
    assert "Entra ID P1" in snap.sources["sign_in_activity"].reason
    assert "Entra ID P1" in snap.sources["registration_details"].reason
    assert "Entra ID P2" in snap.sources["role_eligibility"].reason


def test_per_user_mfa_fallback_uses_beta_batches_of_20(running_sim, sim_secret) -> None:
    served = generate_tenant(90, seed=9)
    opts = SimOptions(per_user_mfa_bulk=False, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at, sources={"per_user_mfa"})
        stats = sim.stats
    assert run.notes["per_user_mfa_path"] == "per-user"
    assert_same_records(served, run.snapshot, ["users", "per_user_mfa"])
    users = len(served.records("users"))
    assert stats.batch_subrequests == users
    assert stats.batch_requests == math.ceil(users / 20)


def test_429_storm_and_503s_are_retried_per_sub_request(running_sim, sim_secret) -> None:
    served = generate_tenant(120, seed=11)
    # The client believes in 8,000 units/10 s; the server allows 100: a storm of 429s in and out of $batch.
    opts = SimOptions(
        per_user_mfa_bulk=False,
        identity_budget_units=100,
        random_503_rate=0.15,
        retry_after_503_s=0,
        reports_per_10s=None,
        ca_per_second=None,
        seed=4,
    )
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at)
        stats = sim.stats
    assert_same_records(served, run.snapshot)
    assert stats.throttled_429 > 0 and stats.unavailable_503 > 0
    assert run.stats.retries >= stats.throttled_429 + stats.unavailable_503 - 5
    assert run.stats.throttled > 0


def test_401_mid_run_refreshes_the_token(running_sim, sim_secret) -> None:
    served = generate_tenant(60, seed=2)
    opts = SimOptions(force_401_after_requests=6, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at)
        stats = sim.stats
    assert_same_records(served, run.snapshot)
    assert stats.unauthorized_401 > 0
    assert run.stats.refreshed_tokens > 0
    assert stats.tokens_issued >= 3  # graph + exchange + at least one refresh


def test_short_lived_tokens_are_refreshed_before_expiry(running_sim, sim_secret) -> None:
    served = generate_tenant(40, seed=2)
    opts = SimOptions(token_lifetime_s=2, latency_ms=150, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at)
        stats = sim.stats
    assert_same_records(served, run.snapshot)
    # every token came from our proactive refresh; none was used after it expired
    assert stats.tokens_issued == run.token_requests >= 2
    assert stats.unauthorized_401 == 0


def test_missing_permissions_fail_their_sources_and_doctor_names_them(running_sim, sim_secret) -> None:
    served = generate_tenant(40, seed=1)
    granted = {"User.Read.All", "Policy.Read.All", "Exchange.ManageAsApp"}
    with running_sim(served, granted=granted, directory_roles=set()) as sim:
        config = sim_config(sim, served)
        snap = collect(config, now=served.collected_at).snapshot
        report = doctor(config.tenants[0], config)
    src = snap.sources
    assert src["users"].status == "collected" and src["security_defaults"].status == "collected"
    assert "RoleManagement.Read.Directory" in src["role_assignments"].reason
    # sign-in activity is read for the admins only, so without role assignments it cannot be read at all
    assert "role assignments" in src["sign_in_activity"].reason
    assert "AuditLog.Read.All" in src["registration_details"].reason
    assert src["cas_mailboxes"].status == "failed" and "Global Reader" in src["cas_mailboxes"].reason
    rows = {r.source: r for r in report.rows}
    assert report.graph_token and report.exchange_token
    assert set(report.roles) == {"User.Read.All", "Policy.Read.All"}
    assert rows["users"].will_collect and rows["conditional_access"].will_collect
    assert not rows["role_assignments"].will_collect
    assert "RoleManagement.Read.Directory" in rows["role_assignments"].missing
    assert "AuditLog.Read.All" in rows["sign_ins"].missing
    assert "AuditLog.Read.All" in rows["sign_in_activity"].missing
    assert "GroupMember.Read.All" in rows["group_members"].missing
    assert "Global Reader" in rows["cas_mailboxes"].missing
    text = report.render()
    assert "will fail" in text and "RoleManagement.Read.Directory" in text
    assert not report.ok
    expected_failures = {n for n, s in snap.sources.items() if s.status == "failed"}
    assert {r.source for r in report.rows if not r.will_collect} == expected_failures


def test_doctor_lists_rules_left_not_assessed(running_sim, sim_secret) -> None:
    from auditor.rules import REGISTRY

    served = generate_tenant(40, seed=1)
    with running_sim(served, granted={"User.Read.All", "Policy.Read.All"}) as sim:
        config = sim_config(sim, served)
        report = doctor(config.tenants[0], config)
    failing = {r.source for r in report.rows if not r.will_collect}
    assert {"cas_mailboxes", "role_assignments", "registration_details"} <= failing
    assert "users" not in failing and "mfa_service_policy" not in failing
    expected = sorted({spec.id for spec in REGISTRY.values() if set(spec.needs) & failing})
    assert expected, "the catalog has rules needing these sources"
    assert report.not_assessed() == expected
    row = next(r for r in report.rows if r.source == "cas_mailboxes")
    assert row.rules == sorted(s.id for s in REGISTRY.values() if "cas_mailboxes" in s.needs)
    assert "Exchange.ManageAsApp" in row.missing


def test_malformed_json_and_truncated_page_fail_only_their_source(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=6)
    opts = SimOptions(
        malformed_json={"conditional_access"},
        truncated_page={"registration_details"},
        default_page=20,
        reports_per_10s=None,
        ca_per_second=None,
    )
    with running_sim(served, options=opts) as sim:
        snap = collect(sim_config(sim, served), now=served.collected_at).snapshot
    src = snap.sources
    assert src["conditional_access"].status == "failed"
    assert "malformed" in src["conditional_access"].reason
    assert src["registration_details"].status == "failed"
    assert "malformed" in src["registration_details"].reason or "truncated" in src["registration_details"].reason
    others = [n for n in SOURCES if n not in ("conditional_access", "registration_details", "group_members")]
    assert_same_records(served, snap, others)


def test_certificate_credential_pem_and_pfx(running_sim, sim_secret, tmp_path, monkeypatch) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from auditor.sim.tls import make_app_certificate

    served = generate_tenant(40, seed=4)
    cert_pem, key_pem = make_app_certificate()
    pem = tmp_path / "app.pem"
    pem.write_text(key_pem + cert_pem)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"app",
            serialization.load_pem_private_key(key_pem.encode(), None),
            x509.load_pem_x509_certificate(cert_pem.encode()),
            None,
            serialization.BestAvailableEncryption(b"pfx-pw"),
        )
    )
    monkeypatch.setenv("APP_PFX_PW", "pfx-pw")
    with running_sim(served, certificate_pem=cert_pem, client_secret=None) as sim:
        for extra in (
            {"certificate_path": str(pem)},
            {"certificate_path": str(pfx), "certificate_password_env": "APP_PFX_PW"},
        ):
            config = sim_config(
                sim,
                served,
                certificate_path=extra["certificate_path"],
                **{k: v for k, v in extra.items() if k != "certificate_path"},
            )
            snap = collect(config, now=served.collected_at, sources={"users", "cas_mailboxes"}).snapshot
            assert_same_records(served, snap, ["users", "cas_mailboxes"])
        # a secret is refused for a certificate-only app: one sentence naming the tenant
        config = sim_config(sim, served)
        with pytest.raises(AuthError, match="contoso"):
            collect(config, sources={"users"})


def test_ca_bundle_from_environment_variables(running_sim, sim_secret, monkeypatch) -> None:
    served = generate_tenant(40, seed=4)
    with running_sim(served) as sim:
        config = sim_config(sim, served, ca_bundle=False)
        with pytest.raises(AuthError, match="TLS certificate not trusted"):
            collect(config, sources={"security_defaults"})
        for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            monkeypatch.setenv(var, str(sim.ca_bundle_path))
            snap = collect(config, sources={"security_defaults"}).snapshot
            assert snap.sources["security_defaults"].status == "collected", var
            monkeypatch.delenv(var)


def test_collect_tenants_one_bad_tenant_does_not_stop_the_others(running_sim, sim_secret, monkeypatch) -> None:
    good = generate_tenant(40, seed=1, name="alpha")
    other = generate_tenant(40, seed=2, name="beta")
    monkeypatch.setenv("BAD_SECRET", "wrong")
    with running_sim(good, tenants=[SimTenant(good), SimTenant(other)]) as sim:
        config = sim_config(
            sim,
            good,
            name="alpha",
            extra_tenants=[
                {
                    **sim_config(sim, other, name="beta").tenants[0].model_dump(exclude_none=True),
                    "client_secret_env": "BAD_SECRET",
                },
            ],
        )
        results = collect_tenants(config)
    assert isinstance(results["alpha"], Snapshot)
    assert results["alpha"].sources["users"].status == "collected"
    assert isinstance(results["beta"], AuthError) and "beta" in str(results["beta"])


def test_no_secret_or_token_in_logs_or_snapshot(running_sim, sim_secret, caplog) -> None:
    served = generate_tenant(40, seed=8)
    caplog.set_level(logging.DEBUG)
    with running_sim(served) as sim:
        snap = collect(sim_config(sim, served), now=served.collected_at).snapshot
    text = caplog.text + json.dumps(snap.to_dict(), default=str)
    assert "sim-secret" not in text
    assert "eyJ" not in caplog.text  # no JWT (access token or client assertion) reached a handler
    assert SECRET_ENV not in json.dumps(snap.to_dict(), default=str)
