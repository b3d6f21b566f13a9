"""The ``entra-auditor`` command line.

Exit codes: 0 ran (no open finding at or above ``--fail-on``); 1 findings at or above ``--fail-on``;
2 bad usage or invalid config; 3 a run failed or was partial (takes precedence over 1).
Errors are one sentence, printed once; ``--debug`` shows tracebacks. ``entra-auditor`` without arguments prints
the help and exits 0. Output cut short by a closed pipe (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from auditor import __version__
from auditor.cli_examples import EXAMPLES, OVERVIEW
from auditor.config import AuditorConfig, load_config, resolve_config_path
from auditor.errors import AuditorError, UsageError
from auditor.findings import SEVERITIES, at_least
from auditor.render import registry
from auditor.terminal import clean


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep its one-line style
        self.print_usage(sys.stderr)
        print(f"entra-auditor: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="entra-auditor",
        description="Audit Microsoft Entra ID and Exchange Online tenants.",
        epilog=OVERVIEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"entra-auditor {__version__}")
    common = _Parser(add_help=False)
    common.add_argument(
        "-c", "--config", help="configuration file (else $ENTRA_AUDITOR_CONFIG, else config/auditor.yaml)"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    audit = sub.add_parser("audit", parents=[common], help="collect, evaluate, store and render")
    audit.add_argument("--tenant", action="append", default=[], help="tenant name (repeatable; default: all)")
    source = audit.add_mutually_exclusive_group()
    source.add_argument("--demo", action="store_true", help="audit the bundled demo tenant (no config or network)")
    source.add_argument("--snapshot", help="evaluate a saved snapshot offline")
    audit.add_argument("--out", help="report folder (default: reports.dir from the config)")
    audit.add_argument("--format", help=f"comma-separated: {','.join(registry.formats())} (default: reports.formats)")
    audit.add_argument(
        "--email",
        action="store_true",
        help="also deliver the report by e-mail (scheduled and worker runs e-mail whenever 'email' is configured)",
    )
    audit.add_argument("--fail-on", choices=SEVERITIES, help="exit 1 when an open finding is at or above this")
    audit.add_argument("--no-history", action="store_true", help="do not read or write the history database")
    audit.add_argument(
        "--record",
        action="store_true",
        help="with --snapshot/--demo: record the run in the history of the configured tenant it belongs to "
        "(offline runs record nothing by default)",
    )

    collect = sub.add_parser("collect", parents=[common], help="collect only and write a snapshot file")
    collect.add_argument("--tenant", help="tenant name (default: the only configured tenant)")
    collect.add_argument("--out", required=True, help="snapshot file to write (gzip; '.json.gz' is added if missing)")

    schedule = sub.add_parser("schedule", parents=[common], help="run the scheduler in the foreground")
    schedule.add_argument(
        "--dispatch", action="store_true", help="enqueue audits for the worker pool instead of running them here"
    )

    rules = sub.add_parser("rules", parents=[common], help="list the rule catalog")
    rules.add_argument(
        "-v",
        "--verbose",
        dest="verbose_rules",
        action="store_true",
        help="also show how each rule decides, its severities and the controls it rests on",
    )
    rules.add_argument("action", nargs="?", choices=["list", "show"], default="list", help="'show ID': one rule")
    rules.add_argument("rule_id", nargs="?", metavar="ID", help="with show: the rule id")
    rules.add_argument("--format", choices=["json", "csv", "md"], help="export the catalog with its references")
    doctor = sub.add_parser("doctor", parents=[common], help="check config, credentials and permissions")
    doctor.add_argument("--tenant", help="tenant name (default: all)")

    history = sub.add_parser("history", parents=[common], help="list past runs; 'history diff A B'")
    history.add_argument(
        "action", nargs="?", choices=["list", "diff"], default="list", help="list runs (default) or diff two runs"
    )
    history.add_argument("runs", nargs="*", help="with diff: two run ids")
    history.add_argument("--tenant", help="only this tenant")
    history.add_argument("--limit", type=int, default=50, help="show at most this many runs (default: 50)")

    remediate = sub.add_parser(
        "remediate", parents=[common], help="write (never run) the commands that would fix the open findings"
    )
    remediate.add_argument("--format", choices=["powershell"], default="powershell", help="script language")
    remediate.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="ID",
        help="only this rule's findings (repeatable; default: every rule with open findings)",
    )
    remediate_source = remediate.add_mutually_exclusive_group()
    remediate_source.add_argument("--findings", metavar="FILE", help="a findings.json of any past run")
    remediate_source.add_argument("--demo", action="store_true", help="the bundled demo tenant")
    remediate_source.add_argument("--snapshot", metavar="FILE", help="evaluate a saved snapshot offline")
    remediate.add_argument("--tenant", help="with -c: the tenant whose latest recorded run to use")
    remediate.add_argument("--out", metavar="FILE", help="script to write (default: ./remediate-<tenant>.ps1)")

    plan = sub.add_parser("plan", parents=[common], help="print the per-user MFA -> Conditional Access waves")
    plan_source = plan.add_mutually_exclusive_group()
    plan_source.add_argument("--demo", action="store_true", help="the bundled demo tenant (no config or network)")
    plan_source.add_argument("--snapshot", metavar="FILE", help="a saved snapshot, offline")
    plan.add_argument("--tenant", help="with -c: the tenant to collect (default: the only configured tenant)")
    plan.add_argument("--limit", type=int, default=50, help="users listed per wave (default 50)")

    decisions = sub.add_parser(
        "decisions", parents=[common], help="bring reviewer decisions of an edited report.xlsx into the next report"
    )
    decisions.add_argument("action", choices=["import"], help="import: read the workbook's reviewer columns")
    decisions.add_argument("workbook", metavar="FILE", help="an edited report.xlsx (e.g. the e-mailed copy)")
    decisions.add_argument("--tenant", help="the tenant it belongs to (default: the workbook's Summary sheet)")
    decisions.add_argument("--out", help="the reports folder the audits write to (default: reports.dir)")

    waivers = sub.add_parser(
        "waivers", parents=[common], help="draft waivers from the 'Accept risk' rows of a reviewed report.xlsx"
    )
    waivers.add_argument("action", choices=["import"], help="import: write the drafts as YAML (config untouched)")
    waivers.add_argument("workbook", metavar="FILE", help="a reviewed report.xlsx")
    waivers.add_argument(
        "-o", "--output", default="waivers-draft.yaml", help="YAML file to write (default: waivers-draft.yaml)"
    )

    worker = sub.add_parser("worker", parents=[common], help="run a scale-out worker (Celery)")
    worker.add_argument("--concurrency", type=int, default=1, help="audits this worker runs at once (default: 1)")
    for name, command in sub.choices.items():
        command.epilog = command.epilog or EXAMPLES.get(name)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _config(args: argparse.Namespace, required: bool = True) -> AuditorConfig:
    path = resolve_config_path(args.config)
    if path is None:
        if required:
            raise UsageError("No configuration: pass -c FILE, set ENTRA_AUDITOR_CONFIG, or create config/auditor.yaml.")
        return AuditorConfig()
    from auditor.deliver import validate_email_config
    from auditor.rules.settings import validate_config_rules

    config = load_config(path)
    validate_config_rules(config, str(path))
    registry.validate_formats(config.reports.formats, str(path))
    validate_email_config(config, origin=str(path))  # email.transport against the channel registry
    return config


def _offline_config(args: argparse.Namespace) -> AuditorConfig:
    """The configuration of a ``--demo``/``--snapshot`` run: optional, and a missing file named only by
    $ENTRA_AUDITOR_CONFIG (the container image sets it) is no configuration, not an error."""
    if not args.config and not getattr(args, "record", False):
        path = resolve_config_path(None)
        if path is None or not path.exists():
            return AuditorConfig()
    return _config(args, required=getattr(args, "record", False))


def _formats(value: str | None, config: AuditorConfig) -> list[str]:
    if not value:
        return [r.format for r in registry.selected(config.reports.formats)]
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = registry.unknown(formats)
    if unknown:
        raise UsageError(f"Unknown --format {', '.join(unknown)}; available formats: {', '.join(registry.formats())}.")
    return formats


def _history(config: AuditorConfig, args: argparse.Namespace) -> Any:
    if getattr(args, "no_history", False):
        return None
    from auditor.history import HistoryStore

    store = HistoryStore(config.storage.url)
    store.migrate()
    return store


def _print_outcome(outcome: Any) -> None:
    if outcome.result is None:
        print(f"{clean(outcome.tenant)}: FAILED — {clean('; '.join(outcome.errors), 400)}", file=sys.stderr)
        return
    result = outcome.result
    summary = result.summary()
    counts = ", ".join(f"{n} {s}" for s, n in summary["open"].items() if n)
    print(
        f"{clean(outcome.tenant)}: run {result.run.status}; open findings: {counts or 'none'}; "
        f"waived: {summary['waived']}"
    )
    for rule in result.not_assessed():
        print(f"  not assessed: {rule.id} — {clean(rule.reason, 300)}")
    for name, path in outcome.files.items():
        print(f"  {name}: {path}")
    for error in outcome.errors:
        print(f"  warning: {clean(error, 400)}", file=sys.stderr)


def _exit_code(outcomes: list[Any], fail_on: str | None) -> int:
    if any(o.status != "complete" or o.errors for o in outcomes):
        return 3
    if fail_on:
        for o in outcomes:
            if any(f.status == "open" and at_least(f.severity, fail_on) for f in o.result.findings):
                return 1
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from auditor.pipeline import run_audit, run_audits
    from auditor.progress import progress_display
    from auditor.snapshot import load

    offline = args.demo or args.snapshot
    if args.record and not offline:
        raise UsageError("--record is for --snapshot or --demo runs (collected runs are always recorded).")
    config = _offline_config(args) if offline else _config(args)
    formats = _formats(args.format, config)
    out = Path(args.out) if args.out else None
    if offline:
        from auditor.offline import offline_audit

        snapshot = load(args.snapshot) if args.snapshot else None
        label = args.tenant[0] if args.tenant else (snapshot.tenant_name if snapshot else "demo")
        if args.demo:
            from auditor.demo import demo_config

            config = demo_config(config)  # the demo tenant's emergency access accounts, unless configured
        with progress_display([label]) as progress_for:
            outcome = offline_audit(
                config,
                args.tenant[0] if args.tenant else None,
                snapshot=snapshot,
                demo=args.demo,
                out_dir=out,
                formats=formats,
                email=args.email,
                history=_history(config, args) if args.record else None,
                record=args.record,
                run=run_audit,
                progress=progress_for(label),
            )
        outcomes = [outcome]
    else:
        names = args.tenant or [t.name for t in config.tenants]
        if not names:
            raise UsageError("The configuration lists no tenants; add one under 'tenants' or use --demo.")
        for name in names:
            config.tenant(name)
        with progress_display(names) as progress_for:
            outcomes = run_audits(
                config,
                names,
                history=_history(config, args),
                out_dir=out,
                formats=formats,
                email=args.email,
                progress_for=progress_for,
            )
    for outcome in outcomes:
        _print_outcome(outcome)
    from auditor.waiver_report import waiver_warnings

    for line in waiver_warnings(config.waivers, [o.result for o in outcomes if o.result is not None]):
        print(f"warning: {clean(line, 400)}", file=sys.stderr)
    return _exit_code(outcomes, args.fail_on)


def cmd_collect(args: argparse.Namespace) -> int:
    from auditor.collect.collector import collect_tenant
    from auditor.progress import progress_display
    from auditor.rundir import check_writable_file, keep_snapshot
    from auditor.snapshot import save

    config = _config(args)
    if args.tenant:
        tenant = config.tenant(args.tenant)
    elif len(config.tenants) == 1:
        tenant = config.tenants[0]
    else:
        raise UsageError("Name the tenant to collect with --tenant (the configuration lists several or none).")
    out = snapshot_name(args.out)
    check_writable_file(out)  # before collecting, not after
    with progress_display([tenant.name]) as progress_for:
        snapshot = collect_tenant(tenant, config, progress=progress_for(tenant.name))
    try:
        path = save(snapshot, out)
    except OSError as exc:
        kept = keep_snapshot(snapshot, None)
        raise AuditorError(f"Cannot write {out} ({exc.strerror or exc}); the snapshot is kept at {kept}") from exc
    failed = [c for c in snapshot.coverage() if c["status"] in ("failed", "partial")]
    print(f"{tenant.name}: snapshot written to {path}")
    for c in failed:
        print(f"  {c['status']}: {c['source']} — {clean(c['reason'], 300)}", file=sys.stderr)
    return 3 if failed else 0


def snapshot_name(out: str) -> Path:
    """Snapshots are gzip: ``x`` and ``x.json`` become ``x.json.gz``; a name ending in ``.gz`` is kept."""
    path = Path(out)
    if path.name.endswith(".gz"):
        return path
    return path.with_name(path.name + (".gz" if path.name.endswith(".json") else ".json.gz"))


def cmd_rules(args: argparse.Namespace) -> int:
    from auditor.rules import REGISTRY, export

    if args.action == "show":
        if not args.rule_id:
            raise UsageError("rules show needs a rule id: entra-auditor rules show admin-app-passwords")
        if args.rule_id not in REGISTRY:
            raise UsageError(f"Unknown rule {args.rule_id!r}; 'entra-auditor rules' lists the rule ids.")
        print(export.show_rule(REGISTRY[args.rule_id]))
        return 0
    if args.format:
        sys.stdout.write(export.export_catalog(args.format))
        return 0
    if args.config:  # -c FILE: the configured state of every rule
        print(export.format_configured_state(export.configured_state(_config(args)), args.config))
        return 0
    print(f"{'id':40} {'severity':9} {'title':55} needs")
    for spec in REGISTRY.values():
        print(f"{spec.id:40} {spec.severity:9} {spec.title[:55]:55} {', '.join(spec.needs)}")
        if getattr(args, "verbose_rules", False):
            print(f"    {' '.join(spec.detection.split())}")
            if spec.escalation:
                print(f"    severity: {spec.severity}; {spec.escalation}")
            refs = ", ".join(f"{r.framework} {r.id}" for r in spec.references if r.framework != "Microsoft Learn")
            print(f"    rests on: {refs or 'Microsoft Learn only'}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from auditor.doctor import doctor

    config = _config(args)
    names = [args.tenant] if args.tenant else [t.name for t in config.tenants]
    if not names:
        raise UsageError("The configuration lists no tenants.")
    from datetime import UTC, datetime

    from auditor.schedule.triggers import describe_schedule

    fires, line = describe_schedule(config.schedule, datetime.now(UTC))
    print(line)
    code = 0 if fires else 3
    for name in names:
        report = doctor(config.tenant(name), config)
        # Error texts and role names come from the tenant's services: one sanitised line at a time.
        print("\n".join(clean(line, 2000) for line in report.render().splitlines()))
        if not report.ok:
            code = 3
    return code


def cmd_history(args: argparse.Namespace) -> int:
    from auditor.history import format_diff, format_runs

    config = _config(args)
    store = _history(config, args)
    if args.action == "diff":
        if len(args.runs) != 2:
            raise UsageError("history diff needs two run ids: entra-auditor history diff A B")
        print(format_diff(store.diff(args.runs[0], args.runs[1])))
    else:
        runs = store.list_runs(tenant=args.tenant, limit=args.limit)
        if args.tenant and not runs and args.tenant not in {t.name for t in config.tenants}:
            raise UsageError(
                f"There is no tenant {args.tenant!r}: it is not in the configuration and has no recorded runs."
            )
        print(format_runs(runs))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.dispatch:
        from auditor.scale.dispatch import run_dispatch_scheduler

        return run_dispatch_scheduler(config) or 0
    from auditor.schedule import run_scheduler

    return run_scheduler(config) or 0


def cmd_remediate(args: argparse.Namespace) -> int:
    """Write the remediation script for the open findings of a findings.json, the demo, a snapshot, or the
    latest recorded run of a configured tenant. Nothing is executed."""
    from auditor import remediate
    from auditor.render.atomic import atomic_write
    from auditor.render.safe import file_component
    from auditor.rules import REGISTRY

    if args.findings:
        data = remediate.from_file(args.findings)
    elif args.demo or args.snapshot:
        from auditor.demo import demo_config, demo_snapshot
        from auditor.engine import evaluate_snapshot
        from auditor.snapshot import load

        snapshot = load(args.snapshot) if args.snapshot else demo_snapshot()
        config = _offline_config(args)
        data = remediate.from_result(evaluate_snapshot(snapshot, config if args.snapshot else demo_config(config)))
    else:
        config = _config(args)
        if not args.tenant and len(config.tenants) != 1:
            raise UsageError("Name the tenant with --tenant, or pass --findings FILE, --demo or --snapshot FILE.")
        tenant = config.tenant(args.tenant or config.tenants[0].name)
        data = remediate.from_history(_history(config, args), tenant.name)
    known = set(REGISTRY) | {f.get("rule_id") for f in data.findings} | {r.get("id") for r in data.rules}
    unknown = [r for r in args.rule if r not in known]
    if unknown:
        raise UsageError(f"Unknown --rule {', '.join(unknown)}; 'entra-auditor rules' lists the rule ids.")
    text = remediate.powershell_script(data, args.rule or None)
    out = Path(args.out or f"remediate-{file_component(data.tenant.get('name'))}.ps1")
    atomic_write(out, remediate.encode_script(text))
    rules = set(args.rule)
    count = sum(
        1 for f in data.findings if f.get("status", "open") == "open" and (not rules or f.get("rule_id") in rules)
    )
    print(
        f"{clean(data.tenant.get('name') or 'tenant')}: remediation script for {count} open finding(s) written to "
        f"{out} (not run: review it, then run it with -WhatIf first)"
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the migration waves of the demo tenant, a snapshot, or a configured tenant (collected now)."""
    from auditor.model import build_model
    from auditor.pipeline import obtain_snapshot
    from auditor.plan import build_plan
    from auditor.plan.text import plan_lines
    from auditor.snapshot import load

    offline = args.demo or args.snapshot
    config = _config(args, required=not offline)
    tenant = args.tenant
    if not offline and not tenant:
        if len(config.tenants) != 1:
            raise UsageError("Name the tenant with --tenant, or pass --demo or --snapshot FILE.")
        tenant = config.tenants[0].name
    snapshot = obtain_snapshot(
        config, tenant, snapshot=load(args.snapshot) if args.snapshot else None, demo=args.demo, progress=None
    )
    plan = build_plan(build_model(snapshot, config.classification, config.legacy_mfa))
    print("\n".join(plan_lines(plan, tenant or snapshot.tenant_name, limit=max(0, args.limit))))
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    """Apply an edited workbook's reviewer entries to the tenant's decisions.json (used by the next run)."""
    from auditor.render.safe import file_component
    from auditor.review import SIDECAR, import_workbook, read_reviews

    config = _config(args, required=False)
    workbook = Path(args.workbook)
    read = read_reviews(workbook)
    if args.tenant and read.tenant and args.tenant != read.tenant:
        raise UsageError(f"{workbook} is a report of tenant {clean(read.tenant)!r}, not {args.tenant!r}.")
    tenant = args.tenant or read.tenant
    if not tenant:
        raise UsageError(f"Name the tenant with --tenant: {workbook} does not say which tenant it is for.")
    folder = Path(args.out or config.reports.dir) / file_component(tenant)
    if not folder.is_dir():
        raise UsageError(f"No reports of tenant {tenant!r} in {folder.parent}; pass --out (the audits' report folder).")
    changed, warnings = import_workbook(folder, workbook, read=read)
    for line in warnings:
        print(f"warning: {clean(line, 400)}", file=sys.stderr)
    print(f"{clean(tenant)}: {changed} decision(s) taken from {workbook} into {folder / SIDECAR}")
    return 0


def cmd_waivers(args: argparse.Namespace) -> int:
    """Write waiver drafts (YAML) from the 'Accept risk' rows of a reviewed workbook; never the config."""
    from datetime import date

    from auditor.render.atomic import atomic_write
    from auditor.review import read_reviews
    from auditor.review.waivers import drafts_yaml, waiver_drafts

    out = Path(args.output)
    config_path = resolve_config_path(args.config)
    if config_path is not None and config_path.exists() and out.exists() and out.resolve() == config_path.resolve():
        raise UsageError(f"{out} is the configuration; waiver drafts go to a file of their own (-o).")
    today = date.today()
    read = read_reviews(Path(args.workbook))
    drafts = waiver_drafts(read, today)
    for line in [*read.warnings, *drafts.skipped]:
        print(f"warning: {clean(line, 400)}", file=sys.stderr)
    atomic_write(out, drafts_yaml(drafts, Path(args.workbook).name, today))
    print(
        f"{len(drafts.waivers)} waiver draft(s) written to {out}; {len(drafts.skipped)} 'Accept risk' row(s) "
        "skipped. Review them, then copy them under 'waivers:' in the configuration."
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from auditor.scale.worker import run_worker

    config_path = resolve_config_path(args.config)
    return run_worker(config_path, concurrency=args.concurrency) or 0


COMMANDS = {
    "audit": cmd_audit,
    "collect": cmd_collect,
    "rules": cmd_rules,
    "doctor": cmd_doctor,
    "history": cmd_history,
    "schedule": cmd_schedule,
    "worker": cmd_worker,
    "remediate": cmd_remediate,
    "plan": cmd_plan,
    "decisions": cmd_decisions,
    "waivers": cmd_waivers,
}


def _quiet_pipe() -> int:
    """stdout's reader went away (``| head``): drop what is left, exit like a process killed by SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13


class _NotReportedElsewhere(logging.Filter):
    """Tenant and delivery failures are on each run's outcome and printed from there: not logged twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "auditor.pipeline"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    root = logging.getLogger()
    if not root.handlers:  # what logging.basicConfig does, with the filter on the one handler
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        if not args.debug:
            handler.addFilter(_NotReportedElsewhere())
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_pipe()
    except AuditorError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"entra-auditor: {clean(exc, 2000)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("entra-auditor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
