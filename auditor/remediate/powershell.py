"""A reviewable PowerShell script with the commands that would fix the open findings (never run by us).

One section per selected rule, in a fixed order. Rules with a safe scripted fix get commands; every
change is wrapped in ``$PSCmdlet.ShouldProcess`` so ``-WhatIf`` is a dry run and PowerShell asks before
each change (``ConfirmImpact = 'High'``; answer "Yes to All" or pass ``-Confirm:$false``). Tenant values
reach the script only as quoted literals or sanitised comments (``auditor.remediate.quote``). Rules with
no safe scripted fix get a comment block with the rule's remediation text and the affected entities.

Commands and endpoints (checked against Microsoft Learn):

* ``Set-TransportConfig -SmtpClientAuthenticationDisabled $true`` — SMTP AUTH off for the organisation;
  https://learn.microsoft.com/powershell/module/exchange/set-transportconfig
* ``Set-CASMailbox -Identity <id> -SmtpClientAuthenticationDisabled $true`` / ``-ImapEnabled $false
  -PopEnabled $false`` — https://learn.microsoft.com/powershell/module/exchange/set-casmailbox ;
  https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission
* ``Set-CASMailboxPlan -Identity <plan> -ImapEnabled $false -PopEnabled $false`` — defaults for new
  mailboxes; https://learn.microsoft.com/powershell/module/exchange/set-casmailboxplan
* ``PATCH /beta/users/{id}/authentication/requirements {"perUserMfaState": "disabled"}`` through
  ``Invoke-MgGraphRequest`` (permission Policy.ReadWrite.AuthenticationMethod) —
  https://learn.microsoft.com/graph/api/authentication-update?view=graph-rest-beta ;
  https://learn.microsoft.com/powershell/module/microsoft.graph.authentication/invoke-mggraphrequest
* App passwords have no Graph API: the admin deletes them in the admin center —
  https://learn.microsoft.com/entra/identity/authentication/howto-mfa-userdevicesettings
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor import __version__
from auditor.remediate.quote import UnsafeValue, check_identifier, comment_lines, comment_text, ps_literal
from auditor.remediate.sources import FindingsInput

EXO_MODULE = "ExchangeOnlineManagement"
GRAPH_MODULE = "Microsoft.Graph.Authentication"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PER_USER_MFA_RULES = ("daily-account-per-user-mfa", "admin-app-passwords")
GAP_RULE = "per-user-mfa-migration-gap"
# Rules with a scripted fix, in script order (the per-user MFA rules share one section).
SCRIPTED = ("smtp-auth-org-enabled", "smtp-auth-mailbox-enabled", "imap-pop-enabled", *PER_USER_MFA_RULES)
MANUAL_LIST_LIMIT = 50

LEARN = {
    "transport": "https://learn.microsoft.com/powershell/module/exchange/set-transportconfig",
    "cas": "https://learn.microsoft.com/powershell/module/exchange/set-casmailbox",
    "plan": "https://learn.microsoft.com/powershell/module/exchange/set-casmailboxplan",
    "smtp": "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
    "authenticated-client-smtp-submission",
    "mfa_api": "https://learn.microsoft.com/graph/api/authentication-update?view=graph-rest-beta",
    "mg_request": "https://learn.microsoft.com/powershell/module/microsoft.graph.authentication/invoke-mggraphrequest",
    "app_passwords": "https://learn.microsoft.com/entra/identity/authentication/howto-mfa-userdevicesettings",
    "mfa_states": "https://learn.microsoft.com/entra/identity/authentication/howto-mfa-userstates",
}


@dataclass
class _Section:
    lines: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    switch_mfa: bool = False


def _open(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if f.get("status", "open") == "open" and isinstance(f.get("rule_id"), str)]


def _label(finding: dict[str, Any]) -> str:
    evidence = finding["evidence"] if isinstance(finding.get("evidence"), dict) else {}
    label = comment_text(finding.get("entity_name") or finding.get("entity_id"), 120)
    if evidence.get("privileged_admin") is True:
        label += " [privileged admin]"
    elif evidence.get("admin") is True:
        label += " [admin]"
    return label


def _banner(rule_id: str, title: object, count: int, suffix: str = "") -> list[str]:
    head = f"# ==== {comment_text(rule_id, 80)}: {comment_text(title, 120)} ({count} open finding"
    return ["", "#" + "=" * 109, head + ("s" if count != 1 else "") + ")" + suffix, "#" + "=" * 109]


def _array(
    variable: str,
    items: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], object],
    accept: Callable[[str], object] | None = None,
) -> tuple[list[str], int]:
    """``$variable = @( 'id'  # label ... )`` for the items whose identifier is safe; unsafe ones become
    SKIPPED comments. Returns the lines and the number of identifiers written."""
    lines = [f"${variable} = @("]
    seen: set[str] = set()
    written = 0
    for item in items:
        raw = key(item)
        try:
            ident = check_identifier(raw)
            if accept is not None and not accept(ident):
                raise UnsafeValue("not a GUID")
        except UnsafeValue as exc:
            lines.append(f"    # SKIPPED ({exc}), fix by hand: {_label(item)} — id {comment_text(raw, 80)}")
            continue
        if ident in seen:
            continue
        seen.add(ident)
        lines.append(f"    {ps_literal(ident)}  # {_label(item)}")
        written += 1
    lines.append(")")
    return lines, written


def _smtp_org(findings: list[dict[str, Any]], context: dict[str, Any]) -> _Section:
    s = _Section(modules={EXO_MODULE})
    inheriting = sum(
        v for f in findings for v in [(f.get("evidence") or {}).get("mailboxes_inheriting")] if type(v) is int
    )
    s.lines += _banner("smtp-auth-org-enabled", findings[0].get("title"), len(findings))
    s.lines += [
        "# Turns SMTP AUTH off for every mailbox that does not set its own value"
        + (f" ({inheriting} mailboxes inherit it)." if inheriting else "."),
        "# Before running: check the legacy-auth-sign-ins findings for 'Authenticated SMTP' clients — they stop",
        "# working. Re-enable SMTP AUTH only on the mailboxes that must keep it, AFTER this change:",
        "#   Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false",
        f"# Learn: {LEARN['transport']}",
        f"#        {LEARN['smtp']}",
        "if ($PSCmdlet.ShouldProcess('Exchange Online organisation (Set-TransportConfig)', 'Disable SMTP AUTH')) {",
        "    Set-TransportConfig -SmtpClientAuthenticationDisabled $true -Confirm:$false",
        "}",
    ]
    context["org_smtp_fixed"] = True
    return s


def _per_mailbox(variable: str, boxes: list[dict[str, Any]], action: str, command: str) -> list[str]:
    """The mailboxes as ``$variable = @(...)`` and, when any identifier was safe to write, the
    ``ShouldProcess`` loop that runs ``command`` on each ``$mailbox``."""
    lines, written = _array(variable, boxes, lambda f: f.get("entity_id"))
    if not written:
        return lines
    return [
        *lines,
        f"foreach ($mailbox in ${variable}) {{",
        f"    if ($PSCmdlet.ShouldProcess($mailbox, '{action}')) {{",
        f"        {command}",
        "    }",
        "}",
    ]


def _smtp_mailboxes(findings: list[dict[str, Any]], context: dict[str, Any]) -> _Section:
    s = _Section(modules={EXO_MODULE})
    boxes = [f for f in findings if f.get("entity_type") == "mailbox"]
    inherited: list[dict[str, Any]] = []
    explicit: list[dict[str, Any]] = []
    for f in boxes:
        own = (f.get("evidence") or {}).get("setting") in (None, "mailbox")
        (explicit if own or not context.get("org_smtp_fixed") else inherited).append(f)
    s.lines += _banner("smtp-auth-mailbox-enabled", findings[0].get("title"), len(findings))
    s.lines += [
        "# Sets SMTP AUTH off on each mailbox below (the mailbox value wins over the organisation setting).",
        "# Devices or apps that must send mail: use a connector or OAuth SMTP instead.",
        f"# Learn: {LEARN['cas']}",
        f"#        {LEARN['smtp']}",
    ]
    if context.get("org_smtp_fixed") and inherited:
        s.lines += [
            f"# {len(inherited)} mailbox(es) only inherit the organisation setting: the Set-TransportConfig",
            "# command above fixes them, so they are not listed here.",
        ]
    if explicit:
        s.lines += _per_mailbox(
            "smtpAuthMailboxes",
            explicit,
            "Disable SMTP AUTH on the mailbox",
            "Set-CASMailbox -Identity $mailbox -SmtpClientAuthenticationDisabled $true -Confirm:$false",
        )
    return s


def _imap_pop(findings: list[dict[str, Any]], context: dict[str, Any]) -> _Section:
    s = _Section(modules={EXO_MODULE})
    boxes = [f for f in findings if f.get("entity_type") == "mailbox"]
    rollup = [f for f in findings if f.get("entity_type") != "mailbox"]
    s.lines += _banner("imap-pop-enabled", findings[0].get("title"), len(findings))
    s.lines += [
        "# IMAP and POP are on by default in every CAS mailbox plan: switch the defaults off for new mailboxes,",
        "# then switch the protocols off on existing mailboxes. Users of IMAP/POP clients lose access.",
        f"# Learn: {LEARN['plan']}",
        f"#        {LEARN['cas']}",
        "foreach ($plan in @(Get-CASMailboxPlan)) {",
        "    if ($PSCmdlet.ShouldProcess([string]$plan.Identity, 'Disable IMAP and POP for new mailboxes')) {",
        "        Set-CASMailboxPlan -Identity $plan.Identity -ImapEnabled $false -PopEnabled $false -Confirm:$false",
        "    }",
        "}",
    ]
    if rollup:
        s.lines += [
            "# Tenant roll-up: the other mailboxes with IMAP or POP on are counted, not listed. To switch them all",
            "# off, review who still uses IMAP/POP (legacy-auth-sign-ins findings), then uncomment this loop:",
            "# $imapPopOn = Get-CASMailbox -ResultSize Unlimited `",
            "#     -Filter 'ImapEnabled -eq $true -or PopEnabled -eq $true'",
            "# foreach ($box in $imapPopOn) {",
            "#     if ($PSCmdlet.ShouldProcess([string]$box.Identity, 'Disable IMAP and POP on the mailbox')) {",
            "#         Set-CASMailbox -Identity $box.Identity -ImapEnabled $false -PopEnabled $false -Confirm:$false",
            "#     }",
            "# }",
        ]
    if boxes:
        s.lines += _per_mailbox(
            "imapPopMailboxes",
            boxes,
            "Disable IMAP and POP on the mailbox",
            "Set-CASMailbox -Identity $mailbox -ImapEnabled $false -PopEnabled $false -Confirm:$false",
        )
    return s


def _per_user_mfa(findings: list[dict[str, Any]], context: dict[str, Any]) -> _Section:
    s = _Section(modules={GRAPH_MODULE}, switch_mfa=True)
    users = [f for f in findings if f.get("entity_type") == "user"]
    gap: set[str] = context["gap_users"]
    blocked = [f for f in users if f.get("entity_id") in gap]
    ready = [f for f in users if f.get("entity_id") not in gap]
    rule_ids = sorted({f["rule_id"] for f in findings})
    s.lines += _banner(" + ".join(rule_ids), "per-user MFA to disabled", len(findings))
    s.lines += [
        "# !!! WARNING — READ BEFORE RUNNING THIS SECTION !!!",
        "# Switch a user's per-user MFA off ONLY after a Conditional Access policy (or security defaults) requires",
        "# MFA for that user. Per-user MFA may be the only MFA the user has today: switched off too early, the",
        "# account signs in with a password alone. Open 'per-user-mfa-migration-gap' findings name the users",
        "# who are not covered yet; they are left out below. This section changes nothing unless the script",
        "# runs with -DisablePerUserMfa.",
    ]
    if context.get("no_baseline"):
        s.lines += [
            "# !!! This run also reports 'mfa-no-baseline': the tenant has NO MFA baseline. Create and enable",
            "# !!! the Conditional Access MFA policy first; until then do not use -DisablePerUserMfa.",
        ]
    if not context.get("gap_assessed"):
        s.lines += [
            "# !!! The findings do not show 'per-user-mfa-migration-gap' as assessed: Conditional Access",
            "# !!! coverage of these users was NOT checked. Verify it yourself before -DisablePerUserMfa.",
        ]
    s.lines += [
        f"# Learn: {LEARN['mfa_states']}",
        f"#        {LEARN['mfa_api']} (needs Policy.ReadWrite.AuthenticationMethod)",
        f"#        {LEARN['mg_request']}",
    ]
    if "admin-app-passwords" in rule_ids:
        s.lines += [
            "# App passwords: no Microsoft Graph API lists or deletes them, and disallowing app passwords does",
            "# not remove existing ones. For each admin below, in the Microsoft Entra admin center (Authentication",
            "# Administrator): Users > All users > Per-user MFA > select the user > Manage user settings >",
            "# 'Delete all existing app passwords generated by the selected users'; then in the per-user MFA",
            "# service settings choose 'Do not allow users to create app passwords'.",
            f"# Learn: {LEARN['app_passwords']}",
        ]
    for f in blocked:
        s.lines.append(f"# NOT INCLUDED (per-user-mfa-migration-gap is open — no MFA after the change): {_label(f)}")
    if not ready:
        return s
    array, written = _array("perUserMfaUsers", ready, lambda f: f.get("entity_id"), accept=GUID.match)
    s.lines += array
    if not written:
        return s
    s.lines += [
        "if (-not $DisablePerUserMfa) {",
        "    Write-Warning ('Per-user MFA: {0} user(s) listed, none changed. Run again with -DisablePerUserMfa "
        "once Conditional Access requires MFA for them.' -f $perUserMfaUsers.Count)",
        "} else {",
        "    foreach ($userId in $perUserMfaUsers) {",
        "        if ($PSCmdlet.ShouldProcess($userId, 'Set per-user MFA state to disabled')) {",
        "            # Relative URI: resolved against the cloud Connect-MgGraph signed in to",
        "            # (https://graph.microsoft.com/beta/... in the global cloud).",
        '            Invoke-MgGraphRequest -Method PATCH -Uri "/beta/users/$userId/authentication/requirements" `',
        """                -Body '{"perUserMfaState":"disabled"}' -ContentType 'application/json'""",
        "        }",
        "    }",
        "}",
    ]
    return s


def _manual(rule_id: str, findings: list[dict[str, Any]]) -> _Section:
    s = _Section()
    s.lines += _banner(rule_id, findings[0].get("title"), len(findings), " — no scripted fix")
    s.lines.append("# No safe scripted fix: follow the remediation below (see the report for the evidence).")
    remediation = next((f.get("remediation") for f in findings if f.get("remediation")), "")
    if remediation:
        s.lines += comment_lines("Remediation: " + str(remediation))
    for f in findings[:MANUAL_LIST_LIMIT]:
        s.lines.append(f"#   - {comment_text(f.get('entity_type'), 30)}: {_label(f)}")
    if len(findings) > MANUAL_LIST_LIMIT:
        s.lines.append(f"#   ... and {len(findings) - MANUAL_LIST_LIMIT} more (see the report).")
    return s


def _header(data: FindingsInput, selected: list[str], covered: int, modules: set[str], mfa: bool) -> list[str]:
    tenant = data.tenant or {}
    run = data.run or {}
    lines = [
        "# entra-auditor remediation script — GENERATED FROM AUDIT FINDINGS, NEVER RUN BY THE AUDITOR.",
        "# Review every line before running it: each command changes the tenant.",
        f"# Tenant: {comment_text(tenant.get('name'), 100)} ({comment_text(tenant.get('tenant_id'), 60)})",
        f"# Run: {comment_text(run.get('id'), 60)} started {comment_text(run.get('started'), 40)}; "
        f"generated by entra-auditor {__version__}",
        *comment_lines("Rules: " + (", ".join(selected) or "none")),
        f"# Open findings covered: {covered}. Waived findings are left out.",
        "#",
        "# How to run (Windows PowerShell 5.1 or PowerShell 7):",
        "#   1. Connect first (this script does not connect) — see the commented Connect-* lines below.",
        "#   2. Dry run, changes nothing:  .\\remediate.ps1 -WhatIf",
        "#   3. Apply: .\\remediate.ps1   (asks before each change: Y, or A for Yes to All; -Confirm:$false skips)",
    ]
    if mfa:
        lines.append("#      Per-user MFA changes run only with -DisablePerUserMfa (read that section's warning).")
    lines += [
        "# The script stops at the first error; changes already made stay, and running it again is safe.",
        "",
        "#Requires -Version 5.1",
    ]
    lines += [f"#Requires -Modules {m}" for m in sorted(modules)]
    lines += ["", "[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]", "param("]
    if mfa:
        lines += [
            "    # Also set per-user MFA to disabled for the listed users (only after CA requires MFA for them).",
            "    [switch]$DisablePerUserMfa",
        ]
    lines += [")", "$ErrorActionPreference = 'Stop'", "Set-StrictMode -Version 3.0", ""]
    if EXO_MODULE in modules:
        lines.append("# Connect-ExchangeOnline -UserPrincipalName admin@yourtenant.example")
    if GRAPH_MODULE in modules:
        lines.append(
            "# Connect-MgGraph -Scopes 'Policy.ReadWrite.AuthenticationMethod' "
            f"-TenantId {comment_text(tenant.get('tenant_id') or '<tenant id>', 60)}"
        )
    return lines


def powershell_script(data: FindingsInput, rules: Iterable[str] | None = None) -> str:
    """The remediation script for the open findings of ``rules`` (default: every rule with open findings).

    Pure text generation: nothing is run. The result is meant to be written UTF-8 with a BOM
    (``encode_script``).
    """
    open_findings = _open(data.findings)
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in open_findings:
        by_rule.setdefault(f["rule_id"], []).append(f)
    selected = sorted(set(rules) if rules is not None else set(by_rule))
    statuses = {r.get("id"): r.get("status") for r in data.rules}
    context: dict[str, Any] = {
        "gap_users": {f.get("entity_id") for f in by_rule.get(GAP_RULE, [])},
        "gap_assessed": statuses.get(GAP_RULE) == "assessed",
        "no_baseline": bool(by_rule.get("mfa-no-baseline")),
    }
    sections: list[_Section] = []
    handlers = {
        "smtp-auth-org-enabled": _smtp_org,
        "smtp-auth-mailbox-enabled": _smtp_mailboxes,
        "imap-pop-enabled": _imap_pop,
    }
    for rule_id in ("smtp-auth-org-enabled", "smtp-auth-mailbox-enabled", "imap-pop-enabled"):
        if rule_id in selected and by_rule.get(rule_id):
            sections.append(handlers[rule_id](by_rule[rule_id], context))
    mfa_findings = [f for r in PER_USER_MFA_RULES if r in selected for f in by_rule.get(r, [])]
    if mfa_findings:
        sections.append(_per_user_mfa(mfa_findings, context))
    for rule_id in selected:
        if rule_id not in SCRIPTED and by_rule.get(rule_id):
            sections.append(_manual(rule_id, by_rule[rule_id]))
    covered = sum(len(by_rule.get(r, [])) for r in selected)
    modules = set().union(*(s.modules for s in sections)) if sections else set()
    lines = _header(data, selected, covered, modules, any(s.switch_mfa for s in sections))
    if not sections:
        lines += ["", "# No open findings for the selected rules: nothing to do."]
    for section in sections:
        lines += section.lines
    lines += ["", "Write-Verbose 'entra-auditor remediation script finished.'"]
    return "\n".join(lines) + "\n"


def encode_script(text: str) -> bytes:
    """UTF-8 with a byte-order mark: Windows PowerShell 5.1 reads a BOM-less script as ANSI."""
    return "\ufeff".encode() + text.encode("utf-8")
