"""Real-tenant fidelity (issue 9) and the source registry (issue 8), against the simulator."""

from __future__ import annotations

import asyncio
import copy
import math
import uuid

import pytest
from simkit import role_holders, sim_config

from auditor.collect.collector import Limits, collect_tenant_async
from auditor.collect.sources import REGISTRY, ProbeContext
from auditor.config import AuditorConfig
from auditor.model.tenant import build_model
from auditor.sim import SimOptions
from auditor.sim.exchange import CMDLETS
from auditor.sim.permissions import ROUTE_PERMISSIONS
from auditor.sim.tenant_gen import generate_tenant
from auditor.snapshot import SourceData
from auditor.sources import SOURCES

FAST = Limits(backoff_base=0.05, reports_per_10s=1000, ca_per_second=1000, activity_per_minute=1000)
OPEN = SimOptions(reports_per_10s=None, ca_per_second=None, sign_in_activity_per_minute=None)


def collect(config, *, now=None, sources=None, limits=FAST):
    return asyncio.run(collect_tenant_async(config.tenants[0], config, now=now, sources=sources, limits=limits))


# ---------------------------------------------------------------- the registry


def test_every_source_is_registered_with_permission_probe_and_fetch() -> None:
    assert set(REGISTRY) == set(SOURCES)
    for name, src in REGISTRY.items():
        assert src.spec is SOURCES[name]
        assert src.permissions and all(isinstance(p, str) and "." in p for p in src.permissions), name
        assert asyncio.iscoroutinefunction(src.fetch), name
        assert callable(src.probe), name
        assert set(src.depends_on) <= set(SOURCES) and name not in src.depends_on, name
        if src.spec.service == "exchange":
            assert src.spec.cmdlet and CMDLETS[src.spec.cmdlet.lower()] == (name, src.spec.shape == "list")
        else:
            assert not src.spec.cmdlet


def test_simulator_permissions_derive_from_the_catalog() -> None:
    for name, spec in SOURCES.items():
        if spec.service == "graph" and name != "sign_in_activity":
            assert spec.permissions[0] in ROUTE_PERMISSIONS[name], name


def test_probe_context_collects_shapes_only() -> None:
    from auditor.collect.sources import shape_of

    shape = shape_of(
        {
            "allowAppPasswords": True,
            "trustedIps": {"skipMfaForFederatedUsers": False, "ranges": ["10.0.0.0/8"]},
            "n": 3,
            "x": None,
        }
    )
    assert shape == {
        "allowAppPasswords": "boolean",
        "n": "number",
        "x": "null",
        "trustedIps": {"skipMfaForFederatedUsers": "boolean", "ranges": ["string"]},
    }
    assert "10.0.0.0" not in repr(shape)
    assert ProbeContext.__dataclass_fields__["shapes"]


# ---------------------------------------------------------------- the snapshot is the boundary


def _with_service_group(served, name: str):
    """A security group no role or CA policy names (only a service-account setting could)."""
    snap = copy.deepcopy(served)
    users = [u for u in snap.records("users") if u.get("userType") == "Member"][-3:]
    group = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "displayName": name,
        "members": [
            {"@odata.type": "#microsoft.graph.user", "id": u["id"], "userPrincipalName": u["userPrincipalName"]}
            for u in users
        ],
    }
    snap.sources["group_members"] = SourceData.collected([*snap.records("group_members"), group])
    return snap, group


def test_offline_rerun_with_other_service_account_groups_has_their_members(running_sim, sim_secret) -> None:
    served, group = _with_service_group(generate_tenant(60, seed=12), "Batch Robots")
    with running_sim(served, options=OPEN) as sim:
        config = sim_config(sim, served)  # no service-account groups configured at collection time
        assert not config.classification.service_accounts.groups
        snap = collect(config, now=served.collected_at, sources={"users", "group_members"}).snapshot
    offline = AuditorConfig.model_validate({"classification": {"service_accounts": {"groups": ["batch robots"]}}})
    model = build_model(snap, offline.classification, offline.legacy_mfa)
    members = {m["id"] for m in group["members"]}
    flagged = set(model.users.loc[model.users["is_service_account"], "id"])
    assert members <= flagged
    # a configured group the snapshot does not hold is reported, never silently empty
    missing = AuditorConfig.model_validate({"classification": {"service_accounts": {"groups": ["No Such Group"]}}})
    unresolved = build_model(snap, missing.classification, missing.legacy_mfa).service_groups_unresolved
    assert unresolved == ["No Such Group"]


# ---------------------------------------------------------------- item 1: signInActivity


def test_sign_in_activity_is_read_for_admins_only_in_the_reports_bucket(running_sim, sim_secret) -> None:
    served = generate_tenant(400, seed=21)
    admins = role_holders(served)
    opts = SimOptions(reports_per_10s=5, ca_per_second=None, sign_in_activity_per_minute=10)
    with running_sim(served, options=opts) as sim:
        limits = Limits(backoff_base=0.05, ca_per_second=1000)
        run = collect(
            sim_config(sim, served), now=served.collected_at, sources={"users", "sign_in_activity"}, limits=limits
        )
        stats = sim.stats
    src = run.snapshot.sources
    assert src["users"].status == "collected" and src["sign_in_activity"].status == "collected", src
    assert all("signInActivity" not in u for u in run.snapshot.records("users"))
    assert set(run.snapshot.records("sign_in_activity")) == admins and admins
    # users pages at 999 (identity); signInActivity in ceil(admins / 15) reports-bucket requests
    assert run.stats.by_service.get("activity") == math.ceil(len(admins) / 15)
    assert stats.throttled_429 == 0
    assert len(admins) < len(served.records("users")) / 5


def test_throttled_sign_in_activity_never_fails_users(running_sim, sim_secret) -> None:
    served = generate_tenant(200, seed=22)
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, sign_in_activity_per_minute=0)
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served, collect={"max_retries": 1})
        run = collect(config, now=served.collected_at, sources={"users", "sign_in_activity"})
    src = run.snapshot.sources
    assert src["users"].status == "collected"
    assert src["sign_in_activity"].status == "failed" and "throttled" in src["sign_in_activity"].reason


def test_the_2023_non_odata_400_body_is_a_clear_reason(running_sim, sim_secret) -> None:
    served = generate_tenant(60, seed=23)
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, sign_in_activity_2023=True)
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at, sources={"users", "sign_in_activity"})
    src = run.snapshot.sources
    assert src["users"].status == "collected"
    assert "Cannot query data for more than 120 users at a time." in src["sign_in_activity"].reason


# ---------------------------------------------------------------- item 3: non-interactive sign-ins


def test_non_interactive_sign_ins_are_collected_from_beta(running_sim, sim_secret) -> None:
    served = generate_tenant(150, seed=24)
    with running_sim(served, options=OPEN) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at, sources={"users", "sign_ins"})
        stats = sim.stats
    got = run.snapshot.records("sign_ins")
    want = served.records("sign_ins")
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in want)
    assert any(r["isInteractive"] is False for r in got) and any(r["isInteractive"] for r in got)
    assert stats.requests_by_route["sign_ins"] >= 2
    # legacy-auth-sign-ins and admin-app-passwords (observed) count both kinds
    counts = build_model(run.snapshot, AuditorConfig().classification).legacy_sign_ins.set_index("user_id")["count"]
    ok = [r for r in want if (r.get("status") or {}).get("errorCode", 0) == 0]
    assert int(counts.sum()) == len(ok)


# ---------------------------------------------------------------- item 7: $batch 404


def test_per_user_mfa_batch_404_skips_the_user(running_sim, sim_secret) -> None:
    served = generate_tenant(45, seed=25)
    gone = [u["id"] for u in served.records("users")[:2]]
    opts = SimOptions(per_user_mfa_bulk=False, reports_per_10s=None, ca_per_second=None, vanished_users=gone)
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at, sources={"per_user_mfa"})
    src = run.snapshot.sources["per_user_mfa"]
    assert src.status == "collected", src.reason
    ids = {r["id"] for r in src.records}
    assert ids == {u["id"] for u in served.records("users")} - set(gone)
    assert run.notes["per_user_mfa_skipped"] == 2


@pytest.mark.parametrize("value", ["", "0001-01-01T00:00:00Z"])
def test_sentinel_dates_mean_none(value: str) -> None:
    from auditor.model.users import build_users

    users = build_users(
        [{"id": "u1", "userPrincipalName": "a@b.c"}],
        None,
        None,
        {
            "u1": {
                "lastSignInDateTime": value,
                "lastNonInteractiveSignInDateTime": value,
                "lastSuccessfulSignInDateTime": value,
            }
        },
    )
    assert users["last_sign_in"].isna().all() and users["last_sign_in_attempt"].isna().all()


# ---------------------------------------------------------------- item 4: legacy client list


@pytest.mark.parametrize("client", ["Universal Outlook", "Outlook Service", "SMTP"])
def test_more_legacy_clients_are_collected_and_counted(running_sim, sim_secret, client: str) -> None:
    served = copy.deepcopy(generate_tenant(80, seed=26))
    records = served.records("sign_ins")
    records[0]["clientAppUsed"] = client
    records[0]["status"] = {"errorCode": 0}
    with running_sim(served, options=OPEN) as sim:
        snap = collect(sim_config(sim, served), now=served.collected_at, sources={"users", "sign_ins"}).snapshot
    assert records[0]["id"] in {r["id"] for r in snap.records("sign_ins")}
    model = build_model(snap, AuditorConfig().classification)
    events = model.legacy_sign_in_events
    assert client in set(events["app"])


# ---------------------------------------------------------------- item 10: new optional sources


def test_new_optional_sources_are_collected(running_sim, sim_secret) -> None:
    served = generate_tenant(120, seed=27)
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, method_configurations_inline=False)
    names = {"pim_group_eligibility", "authentication_strengths", "mailboxes", "exchange_users", "auth_methods_policy"}
    with running_sim(served, options=opts) as sim:
        run = collect(sim_config(sim, served), now=served.collected_at, sources=names)
        stats = sim.stats
    snap = run.snapshot
    for name in names:
        assert snap.sources[name].status == "collected", (name, snap.sources[name].reason)
    assert snap.records("pim_group_eligibility") == served.records("pim_group_eligibility")
    assert snap.records("pim_group_eligibility"), "the role-holding group has an eligible member"
    assert {m["RecipientTypeDetails"] for m in snap.records("mailboxes")} == {"UserMailbox", "SharedMailbox"}
    assert all("AuthenticationPolicy" in u for u in snap.records("exchange_users"))
    assert {s["requirementsSatisfied"] for s in snap.records("authentication_strengths")} == {"mfa"}
    # method configurations read one by one ($batch) when the policy does not carry them inline
    want = served.records("auth_methods_policy")["authenticationMethodConfigurations"]
    got = snap.records("auth_methods_policy")["authenticationMethodConfigurations"]
    assert sorted(c["id"] for c in got) == sorted(c["id"] for c in want)
    assert stats.batch_subrequests >= len(want)


def test_new_sources_missing_permission_or_licence_limit_only_themselves(running_sim, sim_secret) -> None:
    from auditor.sim.permissions import ALL_PERMISSIONS

    served = generate_tenant(60, seed=28)
    granted = set(ALL_PERMISSIONS) - {"PrivilegedEligibilitySchedule.Read.AzureADGroup"}
    with running_sim(served, options=OPEN, granted=granted) as sim:
        snap = collect(
            sim_config(sim, served), now=served.collected_at, sources={"pim_group_eligibility", "role_eligibility"}
        ).snapshot
    assert snap.sources["role_eligibility"].status == "collected"
    assert "PrivilegedEligibilitySchedule.Read.AzureADGroup" in snap.sources["pim_group_eligibility"].reason
    with running_sim(served, options=SimOptions(unlicensed_p2=True, reports_per_10s=None)) as sim:
        snap = collect(sim_config(sim, served), now=served.collected_at, sources={"pim_group_eligibility"}).snapshot
    assert "Entra ID P2" in snap.sources["pim_group_eligibility"].reason


# ---------------------------------------------------------------- item 6: doctor shows the shape, never values


def test_doctor_prints_the_mfa_service_policy_shape_without_values(running_sim, sim_secret) -> None:
    import json

    from auditor.doctor import doctor

    served = generate_tenant(40, seed=29)
    policy = served.records("mfa_service_policy")
    with running_sim(served, options=OPEN) as sim:
        config = sim_config(sim, served)
        report = doctor(config.tenants[0], config)
    shape = report.shapes["mfa_service_policy"]
    assert set(shape) == set(policy) and isinstance(shape["trustedIps"], dict)
    text = report.render()
    assert "Response shapes seen" in text and "trustedIps" in text
    leaves = []

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str | int) and not isinstance(node, bool):
            leaves.append(str(node))

    walk(policy)
    assert leaves, "the served policy has values to hide"
    shape_text = json.dumps(shape)
    for value in leaves:
        assert value not in shape_text, value


# ---------------------------------------------------------------- items 8 and 9: clouds and Exchange redirects


def test_dod_and_china_exchange_hosts_and_per_tenant_override() -> None:
    from auditor.config import TenantConfig
    from auditor.transport.clouds import endpoints_for

    def tenant(cloud: str, **kw) -> TenantConfig:
        return TenantConfig(name="t", tenant_id="x", client_id="y", client_secret_env="S", cloud=cloud, **kw)

    dod = endpoints_for(tenant("usgovdod"))
    assert dod.exchange == "https://outlook-dod.office365.us" and dod.exchange_scope.startswith(dod.exchange)
    assert endpoints_for(tenant("china")).exchange == "https://partner.outlook.cn"
    other = endpoints_for(tenant("china", exchange_endpoint="https://outlook.office365.cn/"))
    assert other.exchange == "https://outlook.office365.cn" and other.graph == endpoints_for(tenant("china")).graph
    glob = endpoints_for(tenant("global"))
    assert glob.exchange_host_allowed("https://outlook.office365.com/adminapi/beta/x/InvokeCommand")
    assert glob.exchange_host_allowed("https://tenant7.outlook.office365.com/adminapi/beta/x/InvokeCommand")
    assert not glob.exchange_host_allowed("https://outlook.office365.us/adminapi/beta/x/InvokeCommand")
    assert not glob.exchange_host_allowed("http://outlook.office365.com/adminapi")
    assert not glob.exchange_host_allowed("https://outlook.office365.com.evil.example/adminapi")
    assert not dod.exchange_host_allowed("https://outlook.office365.us/adminapi")  # GCC High is another cloud


def test_exchange_redirect_within_the_cloud_is_followed(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=30)
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, exchange_redirect_host="127.0.0.1", exo_default_page=7)
    with running_sim(served, options=opts) as sim:
        snap = collect(
            sim_config(sim, served), now=served.collected_at, sources={"cas_mailboxes", "transport_config"}
        ).snapshot
        stats = sim.stats
    assert snap.sources["cas_mailboxes"].status == "collected", snap.sources["cas_mailboxes"].reason
    assert len(snap.records("cas_mailboxes")) == len(served.records("cas_mailboxes")) > 7
    assert snap.sources["transport_config"].status == "collected"
    assert stats.status_counts[302] >= 1


def test_exchange_redirect_to_another_origin_is_refused(running_sim, sim_secret) -> None:
    served = generate_tenant(40, seed=31)
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, exchange_redirect_host="attacker.example")
    with running_sim(served, options=opts) as sim:
        snap = collect(sim_config(sim, served), now=served.collected_at, sources={"cas_mailboxes"}).snapshot
    src = snap.sources["cas_mailboxes"]
    assert src.status == "failed" and "attacker.example" in src.reason and "not followed" in src.reason
