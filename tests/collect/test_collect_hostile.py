"""Misbehaving servers (``auditor.sim.faults``): nothing hangs, nothing leaks, nothing is retried forever.

Every test that could hang runs under a hard bound (``bounded``): a regression fails the test instead
of blocking the suite.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from simkit import SECRET_ENV, sim_config

from auditor.collect.collector import Limits, collect_tenant_async
from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient
from auditor.errors import AuthError
from auditor.sim import SimOptions
from auditor.sim.faults import Faults
from auditor.sim.tenant_gen import generate_tenant
from auditor.transport.auth import TokenProvider, redact
from auditor.transport.http import MAX_RETRY_AFTER, ApiClient, ApiError, MalformedResponse, retry_after

FAST = Limits(backoff_base=0.05, reports_per_10s=1000, ca_per_second=1000)


def bounded(fn: Callable[[], Any], seconds: float) -> Any:
    """Run ``fn`` in a daemon thread; fail the test if it has not returned within ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s (hung)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def options(**faults: Any) -> SimOptions:
    return SimOptions(reports_per_10s=None, ca_per_second=None, faults=Faults(**faults))


def collect(config, sources=None):
    return asyncio.run(collect_tenant_async(config.tenants[0], config, sources=sources, limits=FAST)).snapshot


def api_for(config) -> tuple[TokenProvider, ApiClient]:
    from auditor.collect.collector import build_api

    return build_api(config.tenants[0], config, FAST)


# ------------------------------------------------------------------ paging loops


def test_graph_next_link_loop_fails_the_source_with_a_reason(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=2)
    with running_sim(served, options=options(link_loop={"role_definitions"})) as sim:
        snap = bounded(lambda: collect(sim_config(sim, served), sources={"role_definitions", "users"}), 60)
    src = snap.sources["role_definitions"]
    assert src.status == "failed"
    assert "loop" in src.reason and "nextLink" in src.reason
    assert snap.sources["users"].status == "collected"


def test_exchange_next_link_loop_fails_the_source_with_a_reason(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=2)
    with running_sim(served, options=options(link_loop={"cas_mailboxes"})) as sim:
        snap = bounded(lambda: collect(sim_config(sim, served), sources={"cas_mailboxes"}), 60)
    src = snap.sources["cas_mailboxes"]
    assert src.status == "failed"
    assert "loop" in src.reason


def test_page_count_is_bounded_even_when_links_differ(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=2)
    opts = SimOptions(default_page=1, reports_per_10s=None, ca_per_second=None)
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served)

        async def run() -> None:
            tokens, api = api_for(config)
            async with api:
                graph = GraphClient(api, tokens.endpoints.graph)
                with pytest.raises(MalformedResponse, match="more than 3 pages"):
                    await graph.get_all(graph.url("v1.0", "/roleManagement/directory/roleDefinitions"), max_pages=3)
                exo = ExchangeClient(api, tokens.endpoints.exchange, served.tenant_id)
                with pytest.raises(MalformedResponse, match="more than 1 pages"):
                    exo.headers["Prefer"] = "odata.maxpagesize=1"
                    await exo.invoke("Get-CASMailbox", max_pages=1)

        bounded(lambda: asyncio.run(run()), 60)


# ------------------------------------------------------------------ unbounded waits


def test_stalled_token_endpoint_times_out(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=1)
    with running_sim(served, options=options(stall={"token"})) as sim:
        config = sim_config(sim, served, collect={"timeout_seconds": 1, "max_retries": 0})
        started = time.monotonic()
        with pytest.raises(AuthError) as err:
            bounded(lambda: collect(config, sources={"users"}), 45)
    assert time.monotonic() - started < 30
    assert "timed out" in str(err.value).lower() or "timeout" in str(err.value).lower()


def test_trickling_token_endpoint_fails_the_tenant_within_the_deadline(running_sim, sim_secret) -> None:
    # the token answer arrives one byte every 50 ms: each read is quick, so only an overall deadline ends it
    served = generate_tenant(50, seed=1)
    with running_sim(served, options=options(trickle={"token"}, trickle_interval_s=0.05)) as sim:
        config = sim_config(sim, served, collect={"timeout_seconds": 1.5, "max_retries": 0})
        started = time.monotonic()
        with pytest.raises(AuthError) as err:
            bounded(lambda: collect(config, sources={"users"}), 30)
        elapsed = time.monotonic() - started
        assert sim.options.faults.injected >= 1  # the token endpoint really trickled
    assert elapsed < 6, elapsed  # one deadline (1.5 s) and the discovery requests, not the whole trickle
    message = str(err.value)
    assert "contoso" in message and "1.5 s" in message and "token" in message.lower(), message
    assert "deadline" in message, message


def test_retry_after_is_capped() -> None:
    for value in ("inf", "Infinity", "1e308", "99999999"):
        assert retry_after({"retry-after": value}) == MAX_RETRY_AFTER
    assert retry_after({"retry-after": "nan"}) is None
    assert retry_after({"retry-after": "7"}) == 7.0
    assert MAX_RETRY_AFTER <= 120


def test_retry_after_inf_gives_up_past_the_retry_budget(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=1)
    with running_sim(served, options=options(retry_after={"role_definitions": "inf"})) as sim:
        config = sim_config(sim, served, collect={"max_retries": 20})

        async def run() -> ApiError:
            tokens, api = api_for(config)
            api.max_retry_after = 0.2
            api.retry_budget = 0.5
            async with api:
                graph = GraphClient(api, tokens.endpoints.graph)
                with pytest.raises(ApiError) as err:
                    await graph.get_all(graph.url("v1.0", "/roleManagement/directory/roleDefinitions"))
                return err.value

        error = bounded(lambda: asyncio.run(run()), 30)
    assert error.status == 429
    assert "gave up" in error.message


def test_trickling_body_trips_the_request_deadline(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=4)
    opts = options(trickle={"role_definitions"}, trickle_interval_s=0.05)
    with running_sim(served, options=opts) as sim:
        config = sim_config(sim, served, collect={"timeout_seconds": 1.5, "max_retries": 1})
        started = time.monotonic()
        snap = bounded(lambda: collect(config, sources={"role_definitions", "users"}), 60)
    assert time.monotonic() - started < 30
    src = snap.sources["role_definitions"]
    assert src.status == "failed"
    assert "1.5 s" in src.reason
    assert snap.sources["users"].status == "collected"


# ------------------------------------------------------------------ secrets in error bodies


def test_token_echoed_in_an_error_body_is_not_stored(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=4)
    with running_sim(served, options=options(echo_token={"role_definitions", "cas_mailboxes"})) as sim:
        snap = bounded(lambda: collect(sim_config(sim, served), sources={"role_definitions", "cas_mailboxes"}), 60)
    text = json.dumps(snap.to_dict(), default=str)
    assert snap.sources["role_definitions"].status == "failed"
    assert "Authorization" in snap.sources["role_definitions"].reason  # the server's message is kept...
    assert "eyJ" not in text  # ...but no token (JWT) in it
    assert "Bearer ***" in snap.sources["role_definitions"].reason


def test_token_endpoint_echoing_the_secret_does_not_print_it(running_sim, sim_secret) -> None:
    served = generate_tenant(50, seed=1)
    with running_sim(served, options=options(echo_secret=True)) as sim, pytest.raises(AuthError) as err:
        bounded(lambda: collect(sim_config(sim, served), sources={"users"}), 45)
    text = str(err.value)
    assert "invalid_client" in text
    assert sim_secret not in text
    assert SECRET_ENV not in text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("token Bearer abc.def-ghi_jkl", "abc.def"),
        ('{"access_token": "s3cr3t-token"}', "s3cr3t"),
        ("client_secret=p%40ss%2Bword&scope=x", "p%40ss"),
        ("password: hunter22", "hunter22"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpw"),
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "eyJ"),
        ("the secret is my$ecret+value!", "my$ecret"),
        ("url-encoded my%24ecret%2Bvalue%21 too", "my%24ecret"),
    ],
)
def test_redact_removes_tokens_pairs_and_the_configured_secret(text: str, leak: str) -> None:
    out = redact(text, ("my$ecret+value!",))
    assert leak not in out


# ------------------------------------------------------------------ $batch


def test_http_500_inside_a_batch_is_retried(running_sim, sim_secret) -> None:
    from simkit import canon

    served = generate_tenant(60, seed=9)
    opts = SimOptions(per_user_mfa_bulk=False, reports_per_10s=None, ca_per_second=None, faults=Faults(batch_500=25))
    with running_sim(served, options=opts) as sim:
        snap = bounded(lambda: collect(sim_config(sim, served), sources={"per_user_mfa"}), 60)
        injected = sim.options.faults.injected
    assert injected == 25
    src = snap.sources["per_user_mfa"]
    assert src.status == "collected", src.reason
    assert canon(src.records) == canon(served.sources["per_user_mfa"].records)
