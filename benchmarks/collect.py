"""Collector benchmark: simulated tenants of 1k / 10k / 100k users, 50 ms latency, 8,000 units/10 s.

For each size it prints wall time, requests sent, retries, peak memory of the collector (run in a
child process, ``ru_maxrss``, so the simulator's own memory is not counted), the lower bound that
the throttle budgets and sequential page chains allow (derived below), the ratio to it, and a naive
baseline (one request at a time, no $batch, default page sizes, per-user MFA calls). The naive run is
capped per phase; a phase that does not finish within the cap is extrapolated linearly from the
requests it completed, and the output says so.

    .venv/bin/python benchmarks/collect.py                 # 1k, 10k, 100k
    .venv/bin/python benchmarks/collect.py --sizes 1000 --naive-cap 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.collect.collector import Limits, build_api, collect_tenant_async
from auditor.collect.exchange import ExchangeClient
from auditor.collect.graph import GraphClient
from auditor.config import AuditorConfig
from auditor.snapshot import Snapshot

SECRET_ENV = "BENCH_SIM_SECRET"
ACTIVITY_IDS_PER_REQUEST = 15  # signInActivity is read for role holders only, 15 ids per `id in (...)` filter
ACTIVITY_PER_MINUTE = 10  # GET with signInActivity: 10 per minute (and one of the reports bucket's 5 / 10 s)


def make_config(sim: Any, served: Snapshot) -> AuditorConfig:
    return AuditorConfig.model_validate(
        {
            "tenants": [
                {
                    "name": served.tenant_name,
                    "tenant_id": served.tenant_id,
                    "client_id": "11111111-1111-1111-1111-111111111111",
                    "client_secret_env": SECRET_ENV,
                    "cloud": "custom",
                    "authority_host": sim.authority_host,
                    "graph_endpoint": sim.graph_endpoint,
                    "exchange_endpoint": sim.exchange_endpoint,
                    "ca_bundle": str(sim.ca_bundle_path),
                }
            ],
            "collect": {"max_concurrency": 16},
        }
    )


# ------------------------------------------------------------------ lower bound


def lower_bound(served: Snapshot, latency_s: float, budget: float, reports_per_10s: int) -> dict[str, float]:
    """What no client can beat against these limits.

    * chain: every list is a chain of pages linked by nextLink, so the longest chain costs pages x
      latency (plus one round trip for the token);
    * identity: resource units beyond the (initially full) bucket refill at budget/10 s;
    * reports: registration details, interactive (v1.0) and non-interactive (beta) sign-in pages and
      the signInActivity requests at ``reports_per_10s`` per 10 s (the first window is free), plus the
      last page's round trip;
    * activity: signInActivity for the role holders, 15 ids a request, at 10 requests per minute.
    """
    n = served.sources["users"].items
    recs = {name: served.records(name, []) for name in served.sources}
    groups = recs.get("group_members") or []
    group_pages = [max(1, math.ceil(len(g.get("members") or []) / 999)) for g in groups]
    sign_ins = recs.get("sign_ins") or []
    interactive = sum(1 for r in sign_ins if r.get("isInteractive") is not False)
    principals = {str(r.get("principalId")) for r in (recs.get("role_assignments") or [])}
    principals |= {str(r.get("principalId")) for r in (recs.get("role_eligibility") or [])}
    holders = set(principals)
    for g in groups:
        if str(g.get("id")) in principals:
            holders |= {str(m.get("id")) for m in g.get("members") or []}
    holders &= {str(u.get("id")) for u in recs.get("users") or []}
    activity = math.ceil(len(holders) / ACTIVITY_IDS_PER_REQUEST)
    mailboxes = max(1, math.ceil(len(recs.get("cas_mailboxes") or []) / 1000))
    chains = {
        "users": math.ceil(n / 999),
        "per_user_mfa": math.ceil(n / 999),
        "registration_details": math.ceil(n / 999),
        "sign_ins": max(1, math.ceil(interactive / 1000)),
        "sign_ins_non_interactive": max(1, math.ceil((len(sign_ins) - interactive) / 1000)),
        "group_members": max(group_pages or [1]) + 1,  # after the security-group listing
        "cas_mailboxes": mailboxes,
        "mailboxes": mailboxes,
        "exchange_users": mailboxes,
    }
    units = (
        chains["users"]
        + chains["per_user_mfa"]
        + sum(group_pages)
        + 1
        + 2 * max(1, math.ceil(len(recs.get("role_assignments") or []) / 100))
        + 12
    )
    reports = chains["registration_details"] + chains["sign_ins"] + chains["sign_ins_non_interactive"] + activity
    parts = {
        "chain_s": (1 + max(chains.values())) * latency_s,
        "identity_s": max(0.0, units - budget) / (budget / 10.0),
        "reports_s": (math.ceil(reports / reports_per_10s) - 1) * 10.0 + latency_s,
        "activity_s": (math.ceil(activity / ACTIVITY_PER_MINUTE) - 1) * 60.0 + latency_s if activity else 0.0,
        "ca_s": 1.0,
    }
    parts["bound_s"] = max(parts.values())
    parts["identity_units"] = units
    parts["report_pages"] = reports
    parts["longest_chain_pages"] = max(chains.values())
    parts["activity_requests"] = activity
    parts["role_holders"] = len(holders)
    return parts


# ------------------------------------------------------------------ optimised run (child process)


def child(spec: dict[str, Any]) -> None:
    config = AuditorConfig.model_validate(spec["config"])
    tenant = config.tenants[0]
    start = time.perf_counter()
    run = asyncio.run(collect_tenant_async(tenant, config, limits=Limits(identity_budget_units=spec["budget"])))
    wall = time.perf_counter() - start
    snap = run.snapshot
    print(
        json.dumps(
            {
                "wall_s": wall,
                "requests": run.stats.requests,
                "sub_requests": run.stats.sub_requests,
                "retries": run.stats.retries,
                "throttled": run.stats.throttled,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "coverage": {n: [s.status, s.items, s.reason] for n, s in snap.sources.items()},
                "per_user_mfa_path": run.notes.get("per_user_mfa_path"),
            }
        )
    )


# ------------------------------------------------------------------ naive baseline


async def naive(config: AuditorConfig, served: Snapshot, cap_s: float) -> dict[str, Any]:
    """Sequential, unbatched, default page sizes, per-user MFA calls; reacts to 429 only."""
    tenant = config.tenants[0]
    tokens, api = build_api(
        tenant, config, Limits(identity_budget_units=1e12, reports_per_10s=10**9, ca_per_second=10**9)
    )
    api._sem = asyncio.Semaphore(1)  # one request at a time
    users = served.records("users")
    extrapolated: list[str] = []
    total = 0.0
    requests = 0
    async with api:
        g = GraphClient(api, tokens.endpoints.graph)
        exo = ExchangeClient(api, tokens.endpoints.exchange, tenant.tenant_id)

        async def chain(name: str, first: str, expected_pages: int) -> None:
            nonlocal total, requests
            start, done, url = time.perf_counter(), 0, first
            while url and time.perf_counter() - start < cap_s:
                body = await g.get(url)
                done += 1
                url = body.get("@odata.nextLink")
            spent = time.perf_counter() - start
            requests += done
            if url:
                extrapolated.append(name)
                spent = spent * expected_pages / done
            total += spent

        async def singles(name: str, urls: list[str]) -> None:
            nonlocal total, requests
            start, done = time.perf_counter(), 0
            for url in urls:
                if time.perf_counter() - start >= cap_s:
                    break
                await g.get(url)
                done += 1
            spent = time.perf_counter() - start
            requests += done
            if done < len(urls):
                extrapolated.append(name)
                spent = spent * len(urls) / done
            total += spent

        n = len(users)
        sel = "id,userPrincipalName,displayName,userType,accountEnabled,signInActivity"
        await chain("users", g.url("v1.0", f"/users?$select={sel}"), math.ceil(n / 100))
        await singles("per_user_mfa", [g.url("beta", f"/users/{u['id']}/authentication/requirements") for u in users])
        await chain(
            "registration_details",
            g.url("v1.0", "/reports/authenticationMethods/userRegistrationDetails"),
            math.ceil(n / 100),
        )
        await chain(
            "sign_ins",
            g.url("v1.0", "/auditLogs/signIns"),
            max(1, math.ceil(len(served.records("sign_ins") or []) / 1000)),
        )
        for name, path in (
            ("role_definitions", "/roleManagement/directory/roleDefinitions"),
            ("role_assignments", "/roleManagement/directory/roleAssignments?$expand=principal"),
            ("role_eligibility", "/roleManagement/directory/roleEligibilityScheduleInstances"),
            ("conditional_access", "/identity/conditionalAccess/policies"),
            ("named_locations", "/identity/conditionalAccess/namedLocations"),
        ):
            await chain(name, g.url("v1.0", path), 1)
        for group in served.records("group_members") or []:
            await chain(
                "group_members",
                g.url("v1.0", f"/groups/{group['id']}/transitiveMembers"),
                max(1, math.ceil(len(group.get("members") or []) / 100)),
            )
        start = time.perf_counter()
        mailboxes = await exo.invoke("Get-CASMailbox", {"ResultSize": "Unlimited"})
        total += time.perf_counter() - start
        requests += max(1, math.ceil(len(mailboxes) / 1000))
    return {
        "wall_s": total,
        "requests_sent": requests,
        "retries": api.stats.retries,
        "extrapolated": sorted(set(extrapolated)),
    }


# ------------------------------------------------------------------ driver


def bench(size: int, args: argparse.Namespace) -> dict[str, Any]:
    from auditor.sim import SimOptions, SimTenant, Simulator
    from auditor.sim.tenant_gen import generate_tenant

    served = generate_tenant(size, seed=7)
    opts = SimOptions(
        latency_ms=args.latency_ms,
        identity_budget_units=args.budget,
        reports_per_10s=5,
        ca_per_second=1,
        sign_in_activity_per_minute=ACTIVITY_PER_MINUTE,
    )
    out: dict[str, Any] = {"users": size}
    with Simulator(tenants=[SimTenant(served)], options=opts) as sim:
        config = make_config(sim, served)
        env = {**os.environ, SECRET_ENV: "sim-secret"}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps({"config": config.model_dump(), "budget": args.budget})],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"collector child failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        out.update(res)
        out["server_requests"] = sim.stats.requests_total
        out["server_429"] = sim.stats.throttled_429
        failed = {n: c for n, c in res["coverage"].items() if c[0] != "collected"}
        # sign_in_activity holds the role holders' dates (served: one marker on every user)
        mismatched = {
            n: (c[1], served.sources[n].items)
            for n, c in res["coverage"].items()
            if c[0] == "collected" and c[1] != served.sources[n].items and n != "sign_in_activity"
        }
        out["failed_sources"] = failed
        out["item_mismatch"] = mismatched
        out.update(lower_bound(served, args.latency_ms / 1000, args.budget, 5))
        out["ratio"] = out["wall_s"] / out["bound_s"]
        if not args.no_naive:
            os.environ[SECRET_ENV] = "sim-secret"
            out["naive"] = asyncio.run(naive(config, served, args.naive_cap))
            out["speedup"] = out["naive"]["wall_s"] / out["wall_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--budget", type=int, default=8000)
    parser.add_argument("--naive-cap", type=float, default=30.0, help="seconds per naive phase before extrapolating")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(size, args)
        results.append(r)
        naive_s = r.get("naive", {}).get("wall_s")
        print(
            f"{size:>7} users: wall {r['wall_s']:.1f} s | requests {r['requests']} (+{r['sub_requests']} in $batch) "
            f"| retries {r['retries']} | 429s {r['server_429']} | peak RSS {r['peak_rss_mb']:.0f} MB | "
            f"lower bound {r['bound_s']:.1f} s (chain {r['chain_s']:.1f}, reports {r['reports_s']:.1f}, "
            f"signInActivity {r['activity_s']:.1f}, identity {r['identity_s']:.1f}; {r['identity_units']:.0f} units, "
            f"{r['report_pages']} report requests incl. {r['activity_requests']} signInActivity for "
            f"{r['role_holders']} role holders) "
            f"| ratio {r['ratio']:.2f}"
            + (
                f" | naive {naive_s:.0f} s ({r['speedup']:.1f}x)"
                + (f" extrapolated: {', '.join(r['naive']['extrapolated'])}" if r["naive"]["extrapolated"] else "")
                if naive_s
                else ""
            )
            + (f" | FAILED {r['failed_sources']}" if r["failed_sources"] else "")
            + (f" | ITEM MISMATCH {r['item_mismatch']}" if r["item_mismatch"] else ""),
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
