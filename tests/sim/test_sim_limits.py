"""Throttling and fault injection: 429s with and without Retry-After, 503s, broken bodies, concurrency."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import httpx
import pytest
from simclient import graph_client

from auditor.sim import SimOptions, SimTenant, Simulator
from auditor.sim.tenant_gen import generate_tenant

CLIENT_ID = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def snapshot():
    return generate_tenant(300, seed=8, now=NOW)


def test_identity_budget_gives_429_with_retry_after(snapshot) -> None:
    # users with $select and $top>=20 cost 1 unit; 4 units per 10 s lets ~4 through, then 429
    with (
        Simulator([SimTenant(snapshot)], SimOptions(identity_budget_units=4)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        responses = [c.get("/v1.0/users?$select=id&$top=50") for _ in range(8)]
        codes = [r.status_code for r in responses]
        assert codes[0] == 200 and 429 in codes
        assert responses[0].headers["x-ms-resource-unit"] == "1"
        throttled = next(r for r in responses if r.status_code == 429)
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
        assert snapshot.tenant_id in throttled.headers["x-ms-throttle-scope"]
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert sim.stats.throttled_429 == codes.count(429)
        # the budget is per sub-request inside $batch too
        batch = c.post(
            "/v1.0/$batch",
            json={"requests": [{"id": str(i), "method": "GET", "url": "/users?$select=id&$top=50"} for i in range(5)]},
        ).json()
        limited = [x for x in batch["responses"] if x["status"] == 429]
        assert limited and all(int(x["headers"]["Retry-After"]) >= 1 for x in limited)


def test_users_cost_follows_the_documented_formula(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(identity_budget_units=10_000)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):

        def cost(url: str) -> str:
            return c.get(url).headers["x-ms-resource-unit"]

        assert cost("/v1.0/users") == "2"
        assert cost("/v1.0/users?$select=id") == "1"
        assert cost("/v1.0/users?$top=5") == "1"
        assert cost("/v1.0/roleManagement/directory/roleAssignments?$expand=principal") == "2"


def test_conditional_access_429_has_no_retry_after(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(ca_per_second=0.5)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        first = c.get("/v1.0/identity/conditionalAccess/policies")
        second = c.get("/v1.0/identity/conditionalAccess/namedLocations")
        assert first.status_code == 200
        assert second.status_code == 429 and "Retry-After" not in second.headers


def test_reports_limit_gives_429_with_retry_after(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(reports_per_10s=2)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        codes = [c.get("/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=10") for _ in range(2)]
        third = c.get("/v1.0/auditLogs/signIns")
        assert [r.status_code for r in codes] == [200, 200]
        assert third.status_code == 429 and 1 <= int(third.headers["Retry-After"]) <= 10


def test_random_503_with_retry_after(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(random_503_rate=1.0, retry_after_503_s=2)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        r = c.get("/v1.0/users")
        assert r.status_code == 503 and r.headers["Retry-After"] == "2"
        assert sim.stats.unavailable_503 == 1
    with (
        Simulator([SimTenant(snapshot)], SimOptions(random_503_rate=0.3, seed=11)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        codes = {c.get("/v1.0/users?$top=1").status_code for _ in range(30)}
        assert codes == {200, 503}


def test_malformed_json_route_then_recovers(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(malformed_json={"security_defaults": 1})) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        bad = c.get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")
        assert bad.status_code == 200 and bad.headers["content-type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad.content)
        good = c.get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")
        assert "isEnabled" in good.json()
        assert sim.stats.faults_injected == 1


def test_truncated_page_cuts_the_body(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(truncated_page=["users"])) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/v1.0/users?$top=200")
        # other routes are untouched and the server keeps serving
        assert c.get("/v1.0/roleManagement/directory/roleDefinitions").status_code == 200


def test_forbidden_route_and_concurrency_counter(snapshot) -> None:
    options = SimOptions(forbidden={"role_definitions"}, latency_ms=150)
    with Simulator([SimTenant(snapshot)], options) as sim, graph_client(sim, snapshot.tenant_id) as c:
        assert c.get("/v1.0/roleManagement/directory/roleDefinitions").status_code == 403
        sim.reset_stats()
        codes: list[int] = []
        barrier = threading.Barrier(4)

        def worker() -> None:
            with graph_client(sim, snapshot.tenant_id) as own:
                barrier.wait()
                codes.append(own.get("/v1.0/users?$top=3").status_code)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200] * 4
        stats = sim.stats
        assert stats.max_in_flight >= 2 and stats.in_flight == 0
        assert stats.requests_by_route["users"] == 4 and stats.tokens_issued == 4


def test_sign_in_activity_is_metered_in_the_reports_bucket_and_per_minute(snapshot) -> None:
    # 10 per minute for signInActivity, on top of the reports bucket; plain /users pages are not affected
    opts = SimOptions(reports_per_10s=None, ca_per_second=None, sign_in_activity_per_minute=10)
    with Simulator([SimTenant(snapshot)], opts) as sim, graph_client(sim, snapshot.tenant_id) as c:
        codes = [c.get("/v1.0/users?$select=id,signInActivity&$top=5").status_code for _ in range(12)]
        assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]
        assert c.get("/v1.0/users?$select=id&$top=5").status_code == 200
    opts = SimOptions(reports_per_10s=5, ca_per_second=None, sign_in_activity_per_minute=None)
    with Simulator([SimTenant(snapshot)], opts) as sim, graph_client(sim, snapshot.tenant_id) as c:
        for _ in range(3):
            assert c.get("/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=1").status_code == 200
        codes = [c.get("/v1.0/users?$select=id,signInActivity&$top=5").status_code for _ in range(3)]
        assert codes == [200, 200, 429]  # the same 5 / 10 s bucket as the reports


def test_sign_in_activity_page_size_limits_and_the_2023_body(snapshot) -> None:
    with (
        Simulator([SimTenant(snapshot)], SimOptions(reports_per_10s=None, sign_in_activity_per_minute=None)) as sim,
        graph_client(sim, snapshot.tenant_id) as c,
    ):
        assert c.get("/v1.0/users?$select=id,signInActivity&$top=500").status_code == 200
        assert c.get("/v1.0/users?$select=id,signInActivity&$top=501").status_code == 400
    old = SimOptions(reports_per_10s=None, sign_in_activity_per_minute=None, sign_in_activity_2023=True)
    with Simulator([SimTenant(snapshot)], old) as sim, graph_client(sim, snapshot.tenant_id) as c:
        r = c.get("/v1.0/users?$select=id,signInActivity&$top=121")
        assert r.status_code == 400 and "error" not in r.json()
        assert r.json()["value"] == "Cannot query data for more than 120 users at a time."
        assert c.get("/v1.0/users?$select=id,signInActivity&$top=120").status_code == 200


def test_batch_sub_response_404_for_a_vanished_user(snapshot) -> None:
    gone = snapshot.records("users")[0]["id"]
    kept = snapshot.records("users")[1]["id"]
    opts = SimOptions(reports_per_10s=None, per_user_mfa_bulk=False, vanished_users=[gone], shuffle_batch=False)
    with Simulator([SimTenant(snapshot)], opts) as sim, graph_client(sim, snapshot.tenant_id) as c:
        body = c.post(
            "/beta/$batch",
            json={
                "requests": [
                    {"id": "1", "method": "GET", "url": f"/users/{gone}/authentication/requirements"},
                    {"id": "2", "method": "GET", "url": f"/users/{kept}/authentication/requirements"},
                ]
            },
        ).json()
        status = {r["id"]: r["status"] for r in body["responses"]}
        assert status == {"1": 404, "2": 200}
