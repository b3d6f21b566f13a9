"""Remediation export: the commands that would fix open findings, written for an admin to review.

Report-only: the auditor never runs what it writes. ``powershell_script`` turns a findings list (any
past run's findings.json, or an ``AuditResult``) into a commented PowerShell script.
"""

from auditor.remediate.powershell import encode_script, powershell_script
from auditor.remediate.sources import FindingsInput, from_document, from_file, from_history, from_result

FORMATS = ("powershell",)

__all__ = [
    "FORMATS",
    "FindingsInput",
    "encode_script",
    "from_document",
    "from_file",
    "from_history",
    "from_result",
    "powershell_script",
]
