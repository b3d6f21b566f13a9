"""One worked example per ``entra-auditor`` command, shown at the end of ``entra-auditor COMMAND --help``."""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "audit": "example:\n  entra-auditor audit -c config/auditor.yaml --tenant contoso --fail-on high\n"
    "  entra-auditor audit --demo --out reports/demo",
    "collect": "example:\n  entra-auditor collect -c config/auditor.yaml --tenant contoso --out contoso.json.gz",
    "schedule": "example:\n  entra-auditor schedule -c /etc/entra-auditor/auditor.yaml",
    "rules": "example:\n  entra-auditor rules -v | less",
    "doctor": "example:\n  entra-auditor doctor -c config/auditor.yaml --tenant contoso",
    "history": "example:\n  entra-auditor history -c config/auditor.yaml --tenant contoso --limit 10\n"
    "  entra-auditor history -c config/auditor.yaml diff RUN_A RUN_B",
    "remediate": "example:\n  entra-auditor remediate --findings reports/out/contoso/<run>/findings.json "
    "--rule imap-pop-enabled --out fix.ps1",
    "plan": "example:\n  entra-auditor plan --demo\n"
    "  entra-auditor plan -c config/auditor.yaml --tenant contoso --limit 20",
    "decisions": "example:\n  entra-auditor decisions import ~/Downloads/report.xlsx "
    "-c config/auditor.yaml --tenant contoso",
    "waivers": "example:\n  entra-auditor waivers import reports/out/contoso/<run>/report.xlsx -o waivers-draft.yaml",
    "worker": "example:\n  ENTRA_AUDITOR_BROKER_URL=amqp://guest:guest@localhost// "
    "entra-auditor worker -c auditor.yaml",
}

OVERVIEW = """examples:
  entra-auditor audit --demo                      audit the bundled demo tenant
  entra-auditor doctor -c config/auditor.yaml     check credentials and permissions
  entra-auditor audit -c config/auditor.yaml      audit every configured tenant
  entra-auditor COMMAND --help                    the options of one command"""
