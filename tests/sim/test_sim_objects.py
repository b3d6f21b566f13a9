"""Simulator: GET /groups/{id}, /groups?$filter=displayName eq ..., and /organization (wire shapes, permissions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from simclient import graph_client

from auditor.sim import SimOptions, SimTenant, Simulator
from auditor.sim.graph_objects import GROUP_PROPS
from auditor.sim.tenant_gen import GenOptions, generate_tenant

CLIENT_ID = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
OPEN = SimOptions(reports_per_10s=None, ca_per_second=None)
UNKNOWN = "00000000-dead-beef-0000-000000000000"


@pytest.fixture(scope="module")
def snapshot():
    return generate_tenant(60, seed=5, now=NOW, name="fabrikam")


def assert_graph_error(body: dict, code: str) -> None:
    err = body["error"]
    assert err["code"] == code and err["message"]
    assert set(err["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_get_group_by_id_select_default_and_404(snapshot) -> None:
    groups = snapshot.records("group_members")
    with Simulator([SimTenant(snapshot)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        for group in groups:
            r = c.get(f"/v1.0/groups/{group['id']}?$select=id,displayName")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body == {
                "@odata.context": f"{sim.graph_endpoint}/v1.0/$metadata#groups(id,displayName)/$entity",
                "id": group["id"],
                "displayName": group["displayName"],
            }
        # ids are case-insensitive; without $select every default group property, never the member list
        full = c.get(f"/v1.0/groups/{groups[0]['id'].upper()}").json()
        assert set(full) == {"@odata.context", *GROUP_PROPS}
        assert full["@odata.context"].endswith("$metadata#groups/$entity")
        assert full["displayName"] == groups[0]["displayName"] and "members" not in full
        assert full["groupTypes"] == [] and full["description"] is None
        missing = c.get(f"/v1.0/groups/{UNKNOWN}?$select=id,displayName")
        assert missing.status_code == 404
        assert_graph_error(missing.json(), "Request_ResourceNotFound")
        assert UNKNOWN in missing.json()["error"]["message"]
        bad = c.get(f"/v1.0/groups/{groups[0]['id']}?$select=id,noSuchProperty")
        assert bad.status_code == 400 and "noSuchProperty" in bad.json()["error"]["message"]
        # the transitive-members route still answers beside the new one
        members = c.get(f"/v1.0/groups/{groups[0]['id']}/transitiveMembers?$select=id&$top=999").json()
        assert [m["id"] for m in members["value"]] == [m["id"] for m in groups[0]["members"]]
        assert sim.stats.requests_by_route["groups"] == len(groups) + 3


def test_group_lookup_is_batchable_with_per_request_404(snapshot) -> None:
    groups = snapshot.records("group_members")
    ids = [g["id"] for g in groups] + [UNKNOWN]
    requests = [
        {"id": str(i), "method": "GET", "url": f"/groups/{gid}?$select=id,displayName"} for i, gid in enumerate(ids)
    ]
    requests.append({"id": "m", "method": "GET", "url": f"/groups/{ids[0]}/transitiveMembers?$select=id"})
    with Simulator([SimTenant(snapshot)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        r = c.post("/v1.0/$batch", json={"requests": requests})
        assert r.status_code == 200
        answers = {a["id"]: a for a in r.json()["responses"]}
        for i, group in enumerate(groups):
            assert answers[str(i)]["status"] == 200
            assert answers[str(i)]["body"]["displayName"] == group["displayName"]
        gone = answers[str(len(groups))]
        assert gone["status"] == 404
        assert_graph_error(gone["body"], "Request_ResourceNotFound")
        assert answers["m"]["status"] == 200 and answers["m"]["body"]["value"]
        assert sim.stats.batch_subrequests == len(requests)


@pytest.mark.parametrize(
    ("granted", "allowed"),
    [
        ({"GroupMember.Read.All"}, True),
        ({"Group.Read.All"}, True),
        ({"Directory.Read.All"}, True),
        ({"User.Read.All", "Organization.Read.All"}, False),
    ],
)
def test_group_routes_need_a_group_permission(snapshot, granted, allowed) -> None:
    gid = snapshot.records("group_members")[0]["id"]
    with Simulator([SimTenant(snapshot, granted=granted)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        for url in (
            f"/v1.0/groups/{gid}?$select=id,displayName",
            "/v1.0/groups?$filter=displayName eq 'x'&$select=id,displayName",
        ):
            r = c.get(url)
            if allowed:
                assert r.status_code == 200, r.text
            else:
                assert r.status_code == 403
                assert_graph_error(r.json(), "Authorization_RequestDenied")


def test_group_routes_fail_when_the_snapshot_has_no_groups() -> None:
    snap = generate_tenant(
        40,
        seed=2,
        now=NOW,
        options=GenOptions(
            failed_sources={"group_members": "access denied (HTTP 403); the app needs GroupMember.Read.All"}
        ),
    )
    with Simulator([SimTenant(snap)], OPEN) as sim, graph_client(sim, snap.tenant_id) as c:
        r = c.get(f"/v1.0/groups/{UNKNOWN}?$select=id,displayName")
        assert r.status_code == 403
        assert_graph_error(r.json(), "Authorization_RequestDenied")


def test_groups_filter_by_display_name(snapshot) -> None:
    groups = snapshot.records("group_members")
    target = groups[-1]
    quoted = target["displayName"].upper().replace("'", "''")
    with (
        Simulator([SimTenant(snapshot)], SimOptions(default_page=1, reports_per_10s=None, ca_per_second=None)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        body = c.get(f"/v1.0/groups?$filter=displayName eq '{quoted}'&$select=id,displayName").json()
        assert body["@odata.context"].endswith("$metadata#groups(id,displayName)")
        assert body["value"] == [{"id": target["id"], "displayName": target["displayName"]}]
        assert c.get("/v1.0/groups?$filter=displayName eq 'No such group'").json()["value"] == []
        # the unfiltered list pages like every other collection
        seen, url, pages = [], "/v1.0/groups?$select=id", 0
        while url:
            page = c.get(url).json()
            seen += [g["id"] for g in page["value"]]
            url = page.get("@odata.nextLink")
            pages += 1
        assert sorted(seen) == sorted(g["id"] for g in groups) and pages == len(groups)
        bad = c.get("/v1.0/groups?$filter=startswith(displayName,'a')")
        assert bad.status_code == 400
        assert_graph_error(bad.json(), "Request_UnsupportedQuery")


def test_organization_serves_tenant_meta_with_verified_domains(snapshot) -> None:
    with Simulator([SimTenant(snapshot)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        r = c.get("/v1.0/organization?$select=id,displayName,verifiedDomains")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["@odata.context"] == (
            f"{sim.graph_endpoint}/v1.0/$metadata#organization(id,displayName,verifiedDomains)"
        )
        assert "@odata.nextLink" not in body and len(body["value"]) == 1
        org = body["value"][0]
        assert set(org) == {"id", "displayName", "verifiedDomains"}
        assert org["id"] == snapshot.tenant_id
        assert org["displayName"] == snapshot.tenant["display_name"] == "Fabrikam Ltd"
        domains = {d["name"]: d for d in org["verifiedDomains"]}
        default = snapshot.tenant["default_domain"]
        assert [n for n, d in domains.items() if d["isDefault"]] == [default]
        assert [n for n, d in domains.items() if d["isInitial"]] == ["fabrikam.onmicrosoft.com"]
        assert all({"name", "isDefault", "isInitial", "type", "capabilities"} <= set(d) for d in domains.values())
        one = c.get(f"/v1.0/organization/{snapshot.tenant_id}?$select=displayName").json()
        assert one == {
            "@odata.context": f"{sim.graph_endpoint}/v1.0/$metadata#organization(displayName)/$entity",
            "displayName": "Fabrikam Ltd",
        }
        assert c.get(f"/v1.0/organization/{UNKNOWN}").status_code == 404
        assert c.get("/v1.0/organization?$select=id,nope").status_code == 400
        batched = c.post(
            "/v1.0/$batch",
            json={
                "requests": [
                    {"id": "o", "method": "GET", "url": "/organization?$select=id,displayName,verifiedDomains"}
                ]
            },
        ).json()
        assert batched["responses"][0]["status"] == 200
        assert batched["responses"][0]["body"]["value"] == body["value"]


def test_organization_extra_verified_domains_from_tenant_meta() -> None:
    snap = generate_tenant(40, seed=3, now=NOW, name="tailspin")
    snap.tenant["default_domain"] = "tailspin.onmicrosoft.com"
    snap.tenant["verified_domains"] = ["tailspin.example", {"name": "mail.tailspin.example"}]
    with Simulator([SimTenant(snap)], OPEN) as sim, graph_client(sim, snap.tenant_id) as c:
        org = c.get("/v1.0/organization?$select=verifiedDomains").json()["value"][0]
    flags = {d["name"]: (d["isDefault"], d["isInitial"]) for d in org["verifiedDomains"]}
    assert flags == {
        "tailspin.onmicrosoft.com": (True, True),
        "tailspin.example": (False, False),
        "mail.tailspin.example": (False, False),
    }


@pytest.mark.parametrize(
    ("granted", "allowed"),
    [
        ({"Organization.Read.All"}, True),
        ({"Directory.Read.All"}, True),
        ({"Organization.ReadWrite.All"}, True),
        # documented: User.Read.All is not an application permission for GET /organization
        ({"User.Read.All", "GroupMember.Read.All", "Policy.Read.All"}, False),
    ],
)
def test_organization_permissions(snapshot, granted, allowed) -> None:
    with Simulator([SimTenant(snapshot, granted=granted)], OPEN) as sim, graph_client(sim, snapshot.tenant_id) as c:
        r = c.get("/v1.0/organization?$select=id,displayName,verifiedDomains")
    if allowed:
        assert r.status_code == 200 and r.json()["value"][0]["id"] == snapshot.tenant_id
    else:
        assert r.status_code == 403
        assert_graph_error(r.json(), "Authorization_RequestDenied")
