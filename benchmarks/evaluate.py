"""Benchmark: evaluate every rule on generated tenants (the offline half of an audit).

Prints, per tenant size: users, findings, time to generate (not counted), time to build the model and
evaluate (wall clock, and the CPU time of the process, which stays meaningful when other jobs share the
machine), and peak memory (RSS high-water mark of a fresh child process per size, so sizes do not mix).

    python benchmarks/evaluate.py                 # 10k, 100k, 300k users
    python benchmarks/evaluate.py --users 300000  # one size
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from datetime import UTC, datetime


def _measure(users: int, queue: mp.Queue) -> None:
    from auditor.config import AuditorConfig
    from auditor.engine import evaluate
    from auditor.model import build_model
    from auditor.rules import REGISTRY
    from auditor.sim.tenant_gen import generate_tenant

    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    snapshot = generate_tenant(users, seed=7, now=now)
    generated = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = AuditorConfig()
    t1, c1 = time.perf_counter(), time.process_time()
    model = build_model(snapshot, config.classification, config.legacy_mfa)
    modelled = time.perf_counter() - t1
    result = evaluate(model, REGISTRY, config.rules, config.waivers, coverage=snapshot.coverage(), now=now)
    elapsed, cpu = time.perf_counter() - t1, time.process_time() - c1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    queue.put(
        {
            "users": users,
            "findings": len(result.findings),
            "generate_s": round(generated, 2),
            "model_s": round(modelled, 2),
            "evaluate_s": round(elapsed, 2),
            "evaluate_cpu_s": round(cpu, 2),
            "peak_rss_mib": round(peak / 1024),
            "rss_before_mib": round(rss_before / 1024),
            "rules_assessed": sum(r.status == "assessed" for r in result.rules),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, action="append", help="tenant size (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args()
    sizes = args.users or [10_000, 100_000, 300_000]
    ctx = mp.get_context("spawn")
    if not args.json:
        print(f"{'users':>8} {'findings':>9} {'generate s':>11} {'evaluate s':>11} {'CPU s':>7} {'peak RSS MiB':>13}")
    for users in sizes:
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(users, queue))
        proc.start()
        row = queue.get()
        proc.join()
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['users']:>8} {row['findings']:>9} {row['generate_s']:>11} {row['evaluate_s']:>11} "
                f"{row['evaluate_cpu_s']:>7} {row['peak_rss_mib']:>13}"
            )


if __name__ == "__main__":
    main()
