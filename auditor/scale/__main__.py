"""Command line for scale-out: ``python -m auditor.scale {worker,dispatch,dispatcher,status}``.

* ``worker [celery worker options]`` - run a worker in the foreground;
* ``dispatch [--period P] [--tenant NAME ...]`` - enqueue the current (or given) period once;
* ``dispatcher`` - stay in the foreground and dispatch at every fire time of ``schedule.cron``;
* ``status [--period P]`` - print the claims of a period.

Settings come from the environment (see ``auditor.scale.settings``), the tenants from the
configuration file (``-c``, ``$ENTRA_AUDITOR_CONFIG`` or ``config/auditor.yaml``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from auditor.errors import AuditorError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        from auditor.scale.worker import worker_main

        try:
            worker_main(argv[1:])
        except AuditorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        return 0

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="configuration file")
    parser = argparse.ArgumentParser(prog="python -m auditor.scale", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run a worker (options go to celery worker)")
    d = sub.add_parser("dispatch", parents=[common], help="enqueue one audit per tenant for a period")
    d.add_argument("--period", help="period key (default: the latest scheduled fire time)")
    d.add_argument("--tenant", action="append", help="only this tenant (repeatable)")
    sub.add_parser("dispatcher", parents=[common], help="dispatch at every scheduled fire time, in the foreground")
    s = sub.add_parser("status", parents=[common], help="show the claims of a period")
    s.add_argument("--period", help="period key (default: the latest scheduled fire time)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except AuditorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    from auditor.scale.app import create_app
    from auditor.scale.dispatch import current_period, dispatch, run_dispatcher
    from auditor.scale.settings import ScaleSettings
    from auditor.scale.task import WorkerRuntime

    settings = ScaleSettings.from_env()
    if args.config:
        settings = dataclasses.replace(settings, config_path=args.config)
    runtime = WorkerRuntime(settings)
    config = runtime.load_config()
    store = runtime.claims(config)
    if args.command == "status":
        period = args.period or current_period(config.schedule)
        rows = store.list(period)
        print(f"period {period}: " + ", ".join(f"{k} {v}" for k, v in sorted(store.summary(period).items())))
        for row in rows:
            print(
                f"  {row['tenant']:<32} {row['state']:<8} attempts {row['attempts']}  "
                f"run {row['run_id'] or '-'}  {row['error'] or ''}".rstrip()
            )
        rollup = store.rollup(period)
        if rollup is not None:
            print(f"  roll-up {rollup['state']}: {rollup['folder'] or rollup['error'] or ''}".rstrip())
        return 0
    settings.require_broker()
    app = create_app(settings, runtime=runtime)
    if args.command == "dispatch":
        period = args.period or current_period(config.schedule)
        report = dispatch(app, store, config, period, tenants=args.tenant)
        print(f"period {period}: enqueued {len(report.enqueued)}, already dispatched {len(report.skipped)}")
        return 0
    run_dispatcher(app, runtime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
