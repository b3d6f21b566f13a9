"""The PowerShell remediation export: the right commands per rule, safety gates, and no injection.

Tenant values are hostile here: every script is checked line by line with ``psmodel`` (an independent
model of PowerShell's quoting rules), so a value can only ever end up inside a string literal or a
comment. When ``pwsh`` is installed the scripts are also parsed by PowerShell itself.
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from psmodel import read_single_quoted, skeleton

from auditor.config import AuditorConfig
from auditor.demo import demo_snapshot
from auditor.engine import evaluate_snapshot
from auditor.remediate import FindingsInput, encode_script, from_document, from_result, powershell_script
from auditor.remediate.quote import UnsafeValue, comment_text, ps_literal
from auditor.render.json import findings_document

TENANT = {"name": "contoso", "tenant_id": "92fa6fae-1d6c-477b-a4ba-2666c0213e0f"}
GUIDS = [f"0000000{i}-1111-2222-3333-444444444444" for i in range(10)]

HOSTILE_IDS = [
    "x'; Remove-Mailbox -Identity ceo -Confirm:$false; '",
    "x\u2019; Start-Process calc; \u2018",  # typographic quotes close a PowerShell string too
    "x\u201b\u201a'",
    "ok'",
    "o'brien@contoso.com",
]
REJECTED_IDS = [
    "x\nRemove-Mailbox ceo",
    "x\r\nStart-Process calc",
    "x\x00y",
    "x`nStart-Process calc",
    "x$(Start-Process calc)",
    "x$ (calc)",
    "x\u202e\u2066evil",
    "x\u2028Start-Process calc",
    "x\x85Start-Process calc",
    "",
]
HOSTILE_NAMES = [
    "ann\nStart-Process calc",
    "ann\r#Requires -Modules Evil",
    "\u202eevil\u202c",
    "a\u2029b",
    "<# x #> $(calc) `n '",
    "=cmd|' /C calc'!A0",
]


def _finding(rule: str, entity_type: str, entity_id: str, name: str, **evidence: Any) -> dict[str, Any]:
    return {
        "rule_id": rule,
        "severity": "medium",
        "entity_type": entity_type,
        "entity_id": entity_id,
        "entity_name": name,
        "evidence": evidence,
        "title": f"{rule} title",
        "remediation": f"fix {rule}",
        "status": "open",
        "waiver": None,
        "change": "new",
        "first_seen": None,
    }


def _input(findings: list[dict[str, Any]], rules: dict[str, str] | None = None) -> FindingsInput:
    statuses = {"per-user-mfa-migration-gap": "assessed"} if rules is None else rules
    return FindingsInput(
        tenant=TENANT,
        run={"id": "r1", "started": "2026-03-02T07:00:00+00:00"},
        findings=findings,
        rules=[{"id": k, "status": v} for k, v in statuses.items()],
    )


def _full(ids: list[str], names: list[str]) -> list[dict[str, Any]]:
    """Findings of every scripted rule for the given ids/names, plus one rule without a scripted fix."""
    out = [_finding("smtp-auth-org-enabled", "tenant", TENANT["tenant_id"], "Contoso", mailboxes_inheriting=3)]
    for i, (ident, name) in enumerate(zip(ids, names, strict=False)):
        out += [
            _finding("smtp-auth-mailbox-enabled", "mailbox", ident, name, setting="mailbox", admin=bool(i % 2)),
            _finding("imap-pop-enabled", "mailbox", ident, name, protocols=["IMAP"]),
            _finding("daily-account-per-user-mfa", "user", ident, name, per_user_mfa="enforced"),
            _finding("admin-app-passwords", "user", ident, name, per_user_mfa="enabled"),
            _finding("stale-admin", "user", ident, name),
        ]
    out.append(_finding("imap-pop-enabled", "tenant", TENANT["tenant_id"], "Contoso", mailboxes=40))
    return out


def _code_lines(script: str) -> list[tuple[str, list[str]]]:
    return [skeleton(line) for line in script.split("\n")]


BENIGN = powershell_script(_input(_full(GUIDS[:3], ["ann@contoso.com", "bob@contoso.com", "cy@contoso.com"])))
TEMPLATES = {shape for shape, _ in _code_lines(BENIGN)}


def assert_injection_free(script: str) -> list[str]:
    """Every line is one of the generator's own shapes; returns all literal values, in order."""
    # No hidden line breaks: what PowerShell may treat as a new line is exactly our "\n".
    assert script.splitlines() == script.rstrip("\n").split("\n")
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in script if ch != "\n")
    literals: list[str] = []
    for shape, values in _code_lines(script):
        assert shape in TEMPLATES or shape == "    #", shape
        literals += values
    requires = [line for line in script.split("\n") if line.lower().startswith("#requires")]
    assert set(requires) <= {
        "#Requires -Version 5.1",
        "#Requires -Modules ExchangeOnlineManagement",
        "#Requires -Modules Microsoft.Graph.Authentication",
    }
    return literals


# -- quoting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_a_literal_reads_back_exactly_and_ends_where_it_should(value: str) -> None:
    literal = ps_literal(value)
    assert read_single_quoted(literal, 0) == (value, len(literal))


@pytest.mark.parametrize("value", REJECTED_IDS)
def test_values_that_are_no_real_identifier_are_refused(value: str) -> None:
    with pytest.raises(UnsafeValue):
        ps_literal(value)


@pytest.mark.parametrize("value", HOSTILE_NAMES)
def test_comment_text_is_one_inert_line(value: str) -> None:
    text = comment_text(value)
    assert text.splitlines() == [text]
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in text)


def test_hostile_identifiers_and_names_never_become_code() -> None:
    ids = HOSTILE_IDS + REJECTED_IDS
    names = (HOSTILE_NAMES * 4)[: len(ids)]
    script = powershell_script(_input(_full(ids, names)))
    literals = assert_injection_free(script)
    for value in HOSTILE_IDS:  # accepted: present verbatim as data (mailbox arrays), never as code
        assert value in literals
    for value in REJECTED_IDS:
        assert value not in literals
    assert script.count("# SKIPPED (") >= len(REJECTED_IDS) * 2  # once in each mailbox array
    # User ids go into a Graph URL: only GUIDs are accepted there, whatever else they contain.
    mfa = script.split("$perUserMfaUsers = @(")[1].split(")")[0] if "$perUserMfaUsers" in script else ""
    assert "Remove-Mailbox" not in mfa.replace("# SKIPPED", "").split("#")[0]
    assert "not a GUID" in script


# -- content ------------------------------------------------------------------------------------------


def test_script_header_requires_modules_stops_on_error_and_supports_whatif() -> None:
    lines = BENIGN.split("\n")
    assert "#Requires -Modules ExchangeOnlineManagement" in lines
    assert "#Requires -Modules Microsoft.Graph.Authentication" in lines
    assert "[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]" in lines
    assert "$ErrorActionPreference = 'Stop'" in lines
    assert any(line.startswith("# Connect-ExchangeOnline") for line in lines)
    assert any(line.startswith("# Connect-MgGraph") for line in lines)
    assert not any(line.lstrip().startswith(("Connect-", "Disconnect-")) for line in lines)
    # Every command that changes the tenant runs only inside a ShouldProcess block (-WhatIf / -Confirm).
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("Set-", "Invoke-MgGraphRequest")) and not line.startswith("Set-StrictMode"):
            assert "ShouldProcess" in lines[i - 1] or "ShouldProcess" in lines[i - 3], line


def test_each_scripted_rule_gets_its_command() -> None:
    assert "    Set-TransportConfig -SmtpClientAuthenticationDisabled $true -Confirm:$false" in BENIGN
    assert "Set-CASMailbox -Identity $mailbox -SmtpClientAuthenticationDisabled $true -Confirm:$false" in BENIGN
    assert "Set-CASMailbox -Identity $mailbox -ImapEnabled $false -PopEnabled $false -Confirm:$false" in BENIGN
    assert "Set-CASMailboxPlan -Identity $plan.Identity -ImapEnabled $false -PopEnabled $false" in BENIGN
    assert 'Invoke-MgGraphRequest -Method PATCH -Uri "/beta/users/$userId/authentication/requirements"' in BENIGN
    assert """-Body '{"perUserMfaState":"disabled"}'""" in BENIGN
    assert "learn.microsoft.com/graph/api/authentication-update" in BENIGN
    assert "Delete all existing app passwords" in BENIGN  # app-password guidance for admin-app-passwords
    # The roll-up finding: the tenant-wide loop is offered, commented out.
    assert "# foreach ($box in $imapPopOn) {" in BENIGN
    # A rule without a scripted fix: a comment block with its remediation and entities.
    block = BENIGN.split("# ==== stale-admin")[1]
    assert "no scripted fix" in block and "# Remediation: fix stale-admin" in block and "ann@contoso.com" in block


def test_per_user_mfa_is_gated_and_users_without_ca_coverage_are_left_out() -> None:
    findings = [
        _finding("daily-account-per-user-mfa", "user", GUIDS[0], "covered@contoso.com"),
        _finding("daily-account-per-user-mfa", "user", GUIDS[1], "gap@contoso.com"),
        _finding("per-user-mfa-migration-gap", "user", GUIDS[1], "gap@contoso.com"),
    ]
    script = powershell_script(_input(findings), ["daily-account-per-user-mfa"])
    assert "[switch]$DisablePerUserMfa" in script and "if (-not $DisablePerUserMfa) {" in script
    assert "Switch a user's per-user MFA off ONLY after a Conditional Access policy" in script
    literals = assert_injection_free(script)
    assert GUIDS[0] in literals and GUIDS[1] not in literals
    assert "# NOT INCLUDED (per-user-mfa-migration-gap is open" in script and "gap@contoso.com" in script
    assert "coverage of these users was NOT checked" not in script  # the gap rule was assessed
    assert "per-user-mfa-migration-gap: " not in script  # not selected: no section of its own

    unchecked = powershell_script(
        _input([*findings[:1], _finding("mfa-no-baseline", "tenant", "t", "T")], rules={}),
        ["daily-account-per-user-mfa"],
    )
    assert "coverage of these users was NOT checked" in unchecked
    assert "the tenant has NO MFA baseline" in unchecked


def test_mailboxes_that_only_inherit_the_org_setting_are_fixed_once_at_the_org() -> None:
    findings = [
        _finding("smtp-auth-org-enabled", "tenant", "t", "T"),
        _finding("smtp-auth-mailbox-enabled", "mailbox", GUIDS[0], "own@contoso.com", setting="mailbox"),
        _finding("smtp-auth-mailbox-enabled", "mailbox", GUIDS[1], "inh@contoso.com", setting="inherited from org"),
    ]
    both = assert_injection_free(powershell_script(_input(findings)))
    assert GUIDS[0] in both and GUIDS[1] not in both
    alone = assert_injection_free(powershell_script(_input(findings), ["smtp-auth-mailbox-enabled"]))
    assert GUIDS[0] in alone and GUIDS[1] in alone  # without the org fix, each mailbox is set itself
    assert "Set-TransportConfig" not in "".join(
        s for s, _ in _code_lines(powershell_script(_input(findings), ["smtp-auth-mailbox-enabled"]))
    )


def test_only_open_findings_of_the_selected_rules() -> None:
    waived = _finding("imap-pop-enabled", "mailbox", GUIDS[2], "waived@contoso.com") | {"status": "waived"}
    findings = [
        waived,
        _finding("imap-pop-enabled", "mailbox", GUIDS[3], "open@contoso.com"),
        _finding("smtp-auth-org-enabled", "tenant", "t", "T"),
    ]
    literals = assert_injection_free(powershell_script(_input(findings), ["imap-pop-enabled"]))
    assert GUIDS[3] in literals and GUIDS[2] not in literals
    script = powershell_script(_input(findings), ["imap-pop-enabled"])
    assert "Set-TransportConfig" not in script.replace("#   Set-CASMailbox", "")
    assert "#Requires -Modules Microsoft.Graph.Authentication" not in script  # no Graph section, no Graph module
    nothing = powershell_script(_input(findings), ["stale-admin"])
    assert "nothing to do" in nothing and "#Requires -Modules" not in nothing


def test_demo_result_and_its_findings_json_give_the_same_script() -> None:
    result = evaluate_snapshot(demo_snapshot(), AuditorConfig())
    from_audit = powershell_script(from_result(result))
    from_json = powershell_script(from_document(findings_document(result)))
    assert from_audit == from_json
    assert_injection_free(from_audit)
    assert "Set-TransportConfig -SmtpClientAuthenticationDisabled $true" in from_audit
    assert encode_script(from_audit).startswith(b"\xef\xbb\xbf")


def test_powershell_itself_parses_the_scripts(tmp_path: Path) -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip(
            "pwsh is not installed: PowerShell is not in this machine's Debian repositories "
            "(apt-cache policy powershell finds nothing); the psmodel line checks above cover quoting"
        )
    hostile = powershell_script(_input(_full(HOSTILE_IDS + REJECTED_IDS, HOSTILE_NAMES * 3)))
    for name, text in {"benign.ps1": BENIGN, "hostile.ps1": hostile}.items():
        path = tmp_path / name
        path.write_bytes(encode_script(text))
        check = (
            "$t = $null; $e = $null; [void][System.Management.Automation.Language.Parser]::ParseFile("
            f"'{path}', [ref]$t, [ref]$e); if ($e.Count) {{ $e | ForEach-Object {{ $_.Message }}; exit 1 }}"
        )
        proc = subprocess.run(
            [pwsh, "-NoProfile", "-NonInteractive", "-Command", check], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
