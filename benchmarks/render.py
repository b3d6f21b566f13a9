"""Render benchmark: a generated tenant (default 300,000 users) → evaluate → report context → report.xlsx
and report.html.

The report context is built once (as the pipeline does), then each renderer runs in a forked child so its
peak memory (``ru_maxrss`` of that child, which includes the tenant model, result and context it
inherited) is measured on its own. Targets: workbook < 90 s and < 2 GB;
HTML < 30 s and a file < 50 MB.

    .venv/bin/python benchmarks/render.py                 # 300,000 users
    .venv/bin/python benchmarks/render.py --users 20000 --out /tmp/bench-render
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.config import AuditorConfig
from auditor.engine import evaluate
from auditor.model import build_model
from auditor.render import registry
from auditor.render.context import build_report_context
from auditor.rules import REGISTRY
from auditor.sim.tenant_gen import generate_tenant

TARGETS = {"xlsx": (90.0, 2048.0, None), "html": (30.0, None, 50.0)}  # seconds, peak MB, file MB


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn, *args) -> dict:
    """Run ``fn(*args)`` in a forked child; return its timing, output size and peak RSS."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        start = time.perf_counter()
        path = fn(*args)
        doc = {"seconds": time.perf_counter() - start, "bytes": Path(path).stat().st_size}
        os.write(write, json.dumps(doc).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    _pid, status, usage = os.wait4(pid, 0)
    if status != 0 or not data:
        raise SystemExit(f"renderer child failed with status {status}")
    doc = json.loads(data)
    doc["peak_mb"] = usage.ru_maxrss / 1024
    doc["cpu_s"] = usage.ru_utime + usage.ru_stime  # the child's own CPU time (meaningful on a shared machine)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="entra-auditor-bench-render-"))

    t0 = time.perf_counter()
    snapshot = generate_tenant(args.users, now=datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    t1 = time.perf_counter()
    config = AuditorConfig()
    model = build_model(snapshot, config.classification, config.legacy_mfa)
    result = evaluate(
        model,
        REGISTRY,
        config.rules,
        config.waivers,
        coverage=snapshot.coverage(),
        now=datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
    )
    t2 = time.perf_counter()
    del snapshot
    before = rss_mb()
    print(
        f"tenant: {args.users:,} users generated in {t1 - t0:.1f} s; evaluated in {t2 - t1:.1f} s: "
        f"{len(result.findings):,} findings; RSS {before:,.0f} MB"
    )
    t3 = time.perf_counter()
    context = build_report_context(result, model)
    t4 = time.perf_counter()
    print(
        f"report context: built in {t4 - t3:.1f} s, RSS +{rss_mb() - before:,.0f} MB "
        f"({len(context.users):,} user rows); RSS before rendering {rss_mb():,.0f} MB"
    )

    ok = True
    for kind in ("xlsx", "html"):
        output = registry.get(kind)
        doc = in_child(output.write, context, out / output.filename)
        max_s, max_mb, max_file = TARGETS[kind]
        file_mb = doc["bytes"] / 1024 / 1024
        verdict = [doc["seconds"] < max_s]
        if max_mb:
            verdict.append(doc["peak_mb"] < max_mb)
        if max_file:
            verdict.append(file_mb < max_file)
        ok &= all(verdict)
        print(
            f"{kind}: {doc['seconds']:.1f} s (CPU {doc['cpu_s']:.1f} s), peak RSS {doc['peak_mb']:,.0f} MB "
            "(incl. model, result, context), "
            f"file {file_mb:.1f} MB -> {'OK' if all(verdict) else 'MISSED TARGET'} "
            f"(target < {max_s:.0f} s"
            + (f", < {max_mb:,.0f} MB" if max_mb else "")
            + (f", file < {max_file:.0f} MB" if max_file else "")
            + ")"
        )
    print(f"reports in {out}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
