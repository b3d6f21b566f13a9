"""Graph wire behaviour: paging, projection, filters, $batch, permissions, licences, missing sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from simclient import graph_client

from auditor.sim import SimOptions, SimTenant, Simulator
from auditor.sim.tenant_gen import generate_tenant
from auditor.snapshot import SourceData

CLIENT_ID = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
OPEN = SimOptions(reports_per_10s=None, ca_per_second=None)


@pytest.fixture(scope="module")
def snapshot():
    return generate_tenant(600, seed=5, now=NOW)


def follow(client: httpx.Client, url: str) -> tuple[list[dict], int, list[str]]:
    items, pages, links = [], 0, []
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["value"]
        pages += 1
        url = body.get("@odata.nextLink")
        if url:
            links.append(url)
    return items, pages, links


def test_users_page_across_many_pages_with_projection(snapshot) -> None:
    with Simulator([SimTenant(snapshot)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        users, pages, links = follow(c, "/v1.0/users?$select=id,userPrincipalName,accountEnabled&$top=50")
        expected = snapshot.records("users")
        assert pages == -(-len(expected) // 50) and pages > 10
        assert [u["id"] for u in users] == [u["id"] for u in expected]
        assert all(set(u) == {"id", "userPrincipalName", "accountEnabled"} for u in users)
        assert all(link.startswith(f"{sim.graph_endpoint}/v1.0/users?") and "$skiptoken=" in link for link in links)
        # default page size is 100 and the default property set has no accountEnabled
        first = c.get("/v1.0/users").json()
        assert len(first["value"]) == 100 and "accountEnabled" not in first["value"][0]
        assert c.get("/v1.0/users?$top=1000").status_code == 400
        bad = c.get(links[0].replace("$skiptoken=", "$skiptoken=x"))
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "Directory_ExpiredPageToken"
        # a token from one query cannot page another
        token = links[0].split("$skiptoken=")[1]
        assert c.get(f"/v1.0/users?$filter=accountEnabled eq false&$skiptoken={token}").status_code == 400
        disabled, _, _ = follow(c, "/v1.0/users?$filter=accountEnabled eq false&$select=id,accountEnabled")
        assert len(disabled) == sum(1 for u in expected if u.get("accountEnabled") is False)
        assert c.get("/v1.0/users?$select=id,noSuchProperty").status_code == 400
        assert c.get("/v1.0/users?$filter=startswith(displayName,'a')").status_code == 400
        assert sim.stats.requests_by_route["users"] >= pages


def test_sign_in_activity_caps_pages_and_per_user_mfa_modes(snapshot) -> None:
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, sign_in_activity_per_minute=None)
    with Simulator([SimTenant(snapshot)], opts) as sim, graph_client(sim, snapshot.tenant_id) as c:
        # at most 500 per page with signInActivity (graph-api.md §0)
        assert c.get("/v1.0/users?$select=id,signInActivity&$top=999").status_code == 400
        users, pages, _ = follow(c, "/v1.0/users?$select=id,signInActivity,perUserMfaState&$top=500")
        assert len(users) == len(snapshot.records("users")) and pages == -(-len(users) // 500)
        mfa = {r["id"]: r["perUserMfaState"] for r in snapshot.records("per_user_mfa")}
        assert {u["id"]: u["perUserMfaState"] for u in users} == mfa
        # a user who never signed in is served with Graph's sentinel dates
        never = next(u for u in snapshot.records("users") if u.get("signInActivity") is None)
        served = next(u for u in users if u["id"] == never["id"])["signInActivity"]
        assert served["lastSignInDateTime"] == "0001-01-01T00:00:00Z" and served["lastSuccessfulSignInDateTime"] == ""
    with (
        Simulator([SimTenant(snapshot)], SimOptions(per_user_mfa_bulk=False)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        page = c.get("/v1.0/users?$select=id,perUserMfaState&$top=5").json()["value"]
        assert all("perUserMfaState" not in u for u in page)
        uid = page[0]["id"]
        r = c.get(f"/beta/users/{uid}/authentication/requirements")
        assert r.status_code == 200 and r.json()["perUserMfaState"] == mfa[uid]
        v1 = c.get(f"/v1.0/users/{uid}/authentication/requirements")
        assert v1.status_code == 400 and "segment" in v1.json()["error"]["message"]
        assert c.get("/beta/users/nobody@nowhere/authentication/requirements").status_code == 404


def test_sign_in_filters(snapshot) -> None:
    records = snapshot.records("sign_ins")
    since = NOW - timedelta(days=7)
    apps = ("IMAP4", "Authenticated SMTP")

    def ts(r: dict) -> datetime:
        return datetime.fromisoformat(r["createdDateTime"].replace("Z", "+00:00"))

    # v1.0 (and beta by default) list interactive sign-ins only; beta's signInEventTypes filter the others
    expected = sorted(r["id"] for r in records if ts(r) >= since and r["clientAppUsed"] in apps and r["isInteractive"])
    hidden = sorted(
        r["id"] for r in records if ts(r) >= since and r["clientAppUsed"] in apps and not r["isInteractive"]
    )
    with Simulator([SimTenant(snapshot)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        flt = f"createdDateTime ge {stamp} and (clientAppUsed eq 'IMAP4' or clientAppUsed eq 'Authenticated SMTP')"
        got, _, _ = follow(c, f"/v1.0/auditLogs/signIns?$filter={flt}")
        assert sorted(r["id"] for r in got) == expected and expected
        assert [ts(r) for r in got] == sorted((ts(r) for r in got), reverse=True)  # newest first
        non_interactive = f"{flt} and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
        others, _, _ = follow(c, f"/beta/auditLogs/signIns?$filter={non_interactive}")
        assert sorted(r["id"] for r in others) == hidden and hidden
        v1 = c.get(f"/v1.0/auditLogs/signIns?$filter={non_interactive}")
        assert v1.status_code == 400 and "signInEventTypes" in v1.json()["error"]["message"]
        everything, _, _ = follow(c, f"/v1.0/auditLogs/signIns?$filter=createdDateTime ge {stamp}")
        assert len(everything) == sum(1 for r in records if ts(r) >= since and r["isInteractive"])
        bad = c.get("/v1.0/auditLogs/signIns?$filter=userPrincipalName eq 'x'")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "Request_UnsupportedQuery"
        assert c.get("/v1.0/auditLogs/signIns?$top=1001").status_code == 400


def test_batch_partial_failures_dependencies_and_paging(snapshot) -> None:
    tenant = SimTenant(snapshot, granted={"User.Read.All", "RoleManagement.Read.Directory"})
    with Simulator([tenant], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        requests = [
            {"id": "1", "method": "GET", "url": "/users?$select=id&$top=10"},
            {"id": "2", "method": "GET", "url": "/identity/conditionalAccess/policies"},  # not granted
            {
                "id": "3",
                "method": "GET",
                "url": "/policies/identitySecurityDefaultsEnforcementPolicy",
                "dependsOn": ["2"],
            },
            {"id": "4", "method": "GET", "url": "roleManagement/directory/roleDefinitions"},
            {"id": "5", "method": "GET", "url": "/noSuchThing"},
        ]
        r = c.post("/v1.0/$batch", json={"requests": requests})
        assert r.status_code == 200
        by_id = {x["id"]: x for x in r.json()["responses"]}
        assert set(by_id) == {"1", "2", "3", "4", "5"}
        assert by_id["1"]["status"] == 200 and len(by_id["1"]["body"]["value"]) == 10
        assert by_id["2"]["status"] == 403
        assert by_id["2"]["body"]["error"]["code"] == "Authorization_RequestDenied"
        assert by_id["3"]["status"] == 424
        assert by_id["4"]["status"] == 200 and by_id["4"]["body"]["value"]
        assert by_id["5"]["status"] == 400
        # page inside batches: strip host + version from the nextLink and resubmit
        link = by_id["1"]["body"]["@odata.nextLink"]
        prefix = f"{sim.graph_endpoint}/v1.0"
        assert link.startswith(prefix)
        seen = [u["id"] for u in by_id["1"]["body"]["value"]]
        while link:
            sub = c.post(
                "/v1.0/$batch", json={"requests": [{"id": "p", "method": "GET", "url": link[len(prefix) :]}]}
            ).json()["responses"][0]
            assert sub["status"] == 200
            seen += [u["id"] for u in sub["body"]["value"]]
            link = sub["body"].get("@odata.nextLink")
        assert seen == [u["id"] for u in snapshot.records("users")]
        too_many = [{"id": str(i), "method": "GET", "url": "/users?$top=1"} for i in range(21)]
        assert c.post("/v1.0/$batch", json={"requests": too_many}).status_code == 400
        # beta-only routes fail inside a v1.0 batch and work in a beta batch
        uid = seen[0]
        v1 = c.post(
            "/v1.0/$batch",
            json={"requests": [{"id": "a", "method": "GET", "url": f"/users/{uid}/authentication/requirements"}]},
        ).json()
        assert v1["responses"][0]["status"] == 400
        stats = sim.stats
        assert stats.batch_subrequests >= 7 and stats.forbidden_403 >= 1


def test_batch_answers_out_of_order(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(ca_per_second=None, seed=1)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        requests = [{"id": str(i), "method": "GET", "url": f"/users?$select=id&$top={i + 1}"} for i in range(20)]
        orders = set()
        for _ in range(3):
            body = c.post("/v1.0/$batch", json={"requests": requests}).json()
            orders.add(tuple(x["id"] for x in body["responses"]))
            assert all(len(x["body"]["value"]) == int(x["id"]) + 1 for x in body["responses"])
        assert any(order != tuple(str(i) for i in range(20)) for order in orders)


def test_withheld_permission_unlicensed_tenant_and_missing_sources(snapshot) -> None:
    granted = {"User.Read.All", "RoleManagement.Read.Directory", "AuditLog.Read.All", "Policy.Read.All"}
    with (
        Simulator([SimTenant(snapshot, granted=granted - {"Policy.Read.All"})], OPEN) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        r = c.get("/v1.0/identity/conditionalAccess/policies")
        assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied"
        assert set(r.json()["error"]["innerError"]) >= {"request-id", "date"}
        assert c.get("/v1.0/groups/abc/transitiveMembers").status_code == 403  # GroupMember.Read.All withheld
        assert c.get("/v1.0/users?$top=2").status_code == 200
    unlicensed = SimOptions(unlicensed_p1=True, reports_per_10s=None)
    with (
        Simulator([SimTenant(snapshot, granted=granted)], unlicensed) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        reg = c.get("/v1.0/reports/authenticationMethods/userRegistrationDetails")
        assert reg.status_code == 403
        assert reg.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        assert c.get("/v1.0/users?$select=id,signInActivity").status_code == 403
        assert c.get("/v1.0/users?$select=id").status_code == 200
        assert c.get("/v1.0/auditLogs/signIns").status_code == 403
        pim = c.get("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances")
        assert pim.status_code == 400 and pim.json()["error"]["code"] == "AadPremiumLicenseRequired"
    broken = generate_tenant(600, seed=5, now=NOW)
    broken.sources["mfa_service_policy"] = SourceData.failed("endpoint not available")
    broken.sources["named_locations"] = SourceData.failed("403 from Graph")
    broken.sources["sign_in_activity"] = SourceData.failed("tenant has no Entra ID P1 licence")
    with Simulator([SimTenant(broken)], OPEN) as sim, graph_client(sim, broken.tenant_id) as c:
        assert c.get("/beta/policies/mfaServicePolicy").status_code == 404
        assert c.get("/v1.0/identity/conditionalAccess/namedLocations").status_code == 403
        assert c.get("/v1.0/users?$select=id,signInActivity").json()["error"]["code"] == (
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        )
        assert c.get("/v1.0/identity/conditionalAccess/policies").status_code == 200


def test_group_members_role_expand_and_singletons(snapshot) -> None:
    with Simulator([SimTenant(snapshot)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        for group in snapshot.records("group_members"):
            members, _, _ = follow(c, f"/v1.0/groups/{group['id']}/transitiveMembers?$top=5")
            assert [m["id"] for m in members] == [m["id"] for m in group["members"]]
            assert all(m.get("@odata.type") for m in members)
        assert c.get("/v1.0/groups/00000000-0000-0000-0000-00000000abcd/transitiveMembers").status_code == 404
        plain = c.get("/v1.0/roleManagement/directory/roleAssignments").json()["value"]
        expanded = c.get("/v1.0/roleManagement/directory/roleAssignments?$expand=principal").json()["value"]
        assert plain and all("principal" not in a for a in plain) and all("principal" in a for a in expanded)
        sd = c.get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy").json()
        assert sd["isEnabled"] == snapshot.records("security_defaults")["isEnabled"]
        assert (
            c.get("/beta/policies/mfaServicePolicy").json()["trustedIps"]
            == (snapshot.records("mfa_service_policy")["trustedIps"])
        )
        assert urlsplit(sd["@odata.context"]).netloc == urlsplit(sim.graph_endpoint).netloc
