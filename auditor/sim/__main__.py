"""``python -m auditor.sim``: serve a simulated tenant and print how to point the auditor at it."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from collections.abc import Sequence

import yaml

from auditor.errors import AuditorError
from auditor.sim.options import SimOptions, SimTenant
from auditor.sim.server import Simulator
from auditor.sim.state_dir import SimState, load_state, open_state_dir, save_state

SECRET_ENV = "ENTRA_AUDITOR_SIM_SECRET"  # noqa: S105 - the name of an env var


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m auditor.sim",
        description="Serve a simulated Entra ID / Exchange Online tenant over HTTPS on loopback.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--users", type=int, default=1000, help="generate a tenant with this many users (default 1000)")
    src.add_argument("--snapshot", metavar="FILE", help="serve a saved snapshot (.json.gz) instead")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    p.add_argument("--name", default="contoso", help="tenant name for a generated tenant")
    p.add_argument("--port", type=int, default=0, help="login + Graph port (0 = any free port)")
    p.add_argument("--exchange-port", type=int, default=0, help="Exchange admin API port (0 = any free port)")
    p.add_argument("--client-id", default="11111111-1111-1111-1111-111111111111")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument("--identity-budget", type=int, default=None, help="identity resource units per 10 s")
    p.add_argument("--no-throttle", action="store_true", help="switch off the reports and CA rate limits")
    p.add_argument(
        "--state",
        metavar="DIR",
        help="keep the ports, the CA and the client secret in DIR (0700) so a restart serves the same endpoints",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.snapshot:
            from auditor.snapshot import load

            snapshot = load(args.snapshot)
        else:
            if args.users < 1:
                print("--users must be at least 1.", file=sys.stderr)
                return 2
            from auditor.sim.tenant_gen import generate_tenant

            snapshot = generate_tenant(args.users, seed=args.seed, name=args.name)
    except (AuditorError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    secret = os.environ.get(SECRET_ENV)
    generated = secret is None
    state_dir = open_state_dir(args.state) if args.state else None
    state = load_state(state_dir) if state_dir is not None else SimState(secret=secrets.token_urlsafe(24))
    secret = secret or state.secret
    options = SimOptions(latency_ms=args.latency_ms, identity_budget_units=args.identity_budget)
    if args.no_throttle:
        options.reports_per_10s = None
        options.ca_per_second = None
    sim = Simulator(
        [SimTenant(snapshot, client_id=args.client_id, client_secret=secret)],
        options,
        port=args.port or state.port,
        exchange_port=args.exchange_port or state.exchange_port,
        state_dir=state_dir,
    )
    try:
        sim.start()
    except OSError as exc:
        print(f"Cannot listen on the requested port ({exc.strerror}).", file=sys.stderr)
        return 2
    if state_dir is not None:
        save_state(state_dir, SimState(*sim.ports, secret=secret))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # also while the endpoints are being printed
    try:
        print(
            f"Simulated tenant {snapshot.tenant_name} ({snapshot.tenant_id}), "
            f"{len(snapshot.records('users', []))} users"
        )
        print(f"  authority host    {sim.authority_host}")
        print(f"  Graph endpoint    {sim.graph_endpoint}")
        print(f"  Exchange endpoint {sim.exchange_endpoint}")
        print(f"  CA bundle         {sim.ca_bundle_path}")
        print()
        if generated and state_dir is not None:
            print(f"# the simulator's client secret (kept in {state_dir}; not a real credential):")
            print(f"export {SECRET_ENV}={secret}")
        elif generated:
            print("# a throwaway client secret for this simulator run (not a real credential):")
            print(f"export {SECRET_ENV}={secret}")
        else:
            print(f"# the client secret is the value of ${SECRET_ENV}")
        print("# configuration snippet (cloud: custom):")
        print(yaml.safe_dump({"tenants": [sim.tenant_config(secret_env=SECRET_ENV)]}, sort_keys=False), end="")
        print("\nServing until interrupted (Ctrl-C).", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
