"""The v2 neighbourhood tables: Exchange authentication policies, shared mailboxes, method facts."""

from __future__ import annotations

import pandas as pd

from auditor.model.auth_methods import (
    account_facts,
    phishing_resistant,
    phone_only,
    requires_phishing_resistant,
)
from auditor.model.exchange_auth import build_exchange_auth, policy_name
from auditor.model.shared_mailboxes import build_shared_mailboxes


def test_policy_assignment_by_distinguished_name_resolves_to_the_policy() -> None:
    assert policy_name("CN=Block Basic,CN=Auth Policies,CN=Configuration,CN=contoso") == "Block Basic"
    assert policy_name("Block Basic") == "Block Basic"
    assert policy_name("") is None and policy_name(None) is None


def test_user_policy_wins_over_org_default_and_only_false_blocks_basic_smtp() -> None:
    auth = build_exchange_auth(
        [
            {"Name": "Default", "AllowBasicAuthSmtp": False, "AllowBasicAuthPop": True},
            {"Name": "Printers", "AllowBasicAuthSmtp": True},
            {"Name": "Silent"},
        ],
        {"DefaultAuthenticationPolicy": "Default", "OAuth2ClientProfileEnabled": True},
        [
            {"ExternalDirectoryObjectId": "u-1", "AuthenticationPolicy": "Printers"},
            {"ExternalDirectoryObjectId": "u-2", "AuthenticationPolicy": "Silent"},
            {"ExternalDirectoryObjectId": "u-stranger", "AuthenticationPolicy": "Printers"},
        ],
        {"u-1", "u-2", "u-3"},
    )
    assert auth.policy_for("u-1") == "Printers" and auth.policy_for("u-3") == "Default"
    assert not auth.smtp_basic_blocked("u-1")
    assert not auth.smtp_basic_blocked("u-2")  # the flag is absent: nothing blocks it
    assert auth.smtp_basic_blocked("u-3")
    assert auth.basic_allowed("Default") == ["Pop"]
    assert auth.assigned_users() == {"Printers": ["u-1"], "Silent": ["u-2"]}
    assert auth.oauth2_client_profile_enabled is True


def test_nothing_collected_blocks_nothing() -> None:
    auth = build_exchange_auth(None, None, None, {"u-1"})
    assert not auth.policies_known and not auth.org_known and not auth.users_known
    assert auth.policy_for("u-1") is None and not auth.smtp_basic_blocked("u-1")


def test_shared_mailboxes_join_on_object_id_then_address() -> None:
    users = pd.DataFrame({"id": ["u-a", "u-b"], "upn": ["a@x.com", "b@x.com"], "enabled": [True, False]})
    boxes = build_shared_mailboxes(
        [
            {
                "ExternalDirectoryObjectId": "u-a",
                "PrimarySmtpAddress": "a@x.com",
                "RecipientTypeDetails": "SharedMailbox",
            },
            {"PrimarySmtpAddress": "B@x.com", "RecipientTypeDetails": "SharedMailbox"},
            {"ExternalDirectoryObjectId": "u-a", "RecipientTypeDetails": "UserMailbox"},
            {"PrimarySmtpAddress": "nobody@x.com", "RecipientTypeDetails": "SharedMailbox"},
        ],
        users,
    )
    assert boxes["user_id"].tolist() == ["u-a", "u-b", None]
    assert boxes["enabled"].tolist() == [True, False, None]


def test_method_classes() -> None:
    assert phone_only(["mobilePhone", "email"]) and phone_only(["officePhone", "securityQuestion"])
    assert not phone_only([]) and not phone_only(["email"])
    assert not phone_only(["mobilePhone", "softwareOneTimePasscode"])
    assert phishing_resistant(["passKeyDeviceBound", "microsoftAuthenticatorPasswordless"]) == ["passKeyDeviceBound"]


def _policy(grant: dict, apps: list[str], state: str = "enabled") -> dict:
    return {"state": state, "conditions": {"applications": {"includeApplications": apps}}, "grantControls": grant}


def test_a_policy_requires_phishing_resistant_mfa_only_when_nothing_else_can_satisfy_it() -> None:
    pr = {"id": "00000000-0000-0000-0000-000000000004"}
    custom = {"id": "s-1", "allowedCombinations": ["fido2", "windowsHelloForBusiness"]}
    weak = {"id": "s-2", "allowedCombinations": ["fido2", "password,sms"]}
    assert requires_phishing_resistant(_policy({"authenticationStrength": pr}, ["All"]))
    assert requires_phishing_resistant(_policy({"authenticationStrength": custom}, ["All"]))
    # the Microsoft Admin Portals alone do not count (SCuBA MS.AAD.3.6v1, Maester, Microsoft's template: All resources)
    portals = _policy({"authenticationStrength": custom}, ["MicrosoftAdminPortals"])
    assert not requires_phishing_resistant(portals)
    assert requires_phishing_resistant(portals, target="MicrosoftAdminPortals")
    assert not requires_phishing_resistant(
        _policy({"authenticationStrength": custom}, ["All", "MicrosoftAdminPortals"]), target="MicrosoftAdminPortals"
    )
    assert not requires_phishing_resistant(_policy({"authenticationStrength": weak}, ["All"]))
    assert not requires_phishing_resistant(_policy({"authenticationStrength": pr}, ["All"], "disabled"))
    assert not requires_phishing_resistant(_policy({"authenticationStrength": pr}, ["some-app"]))
    assert not requires_phishing_resistant(
        _policy({"authenticationStrength": pr, "builtInControls": ["compliantDevice"], "operator": "OR"}, ["All"])
    )
    assert requires_phishing_resistant(
        _policy({"authenticationStrength": pr, "builtInControls": ["compliantDevice"], "operator": "AND"}, ["All"])
    )
    # a strength known only by id from the strength policies source
    assert requires_phishing_resistant(_policy({"authenticationStrength": {"id": "s-3"}}, ["All"]), {"s-3": ["fido2"]})


def test_account_facts_read_sync_licence_and_interactive_sign_in() -> None:
    facts = account_facts(
        [
            {"id": "u-1", "onPremisesSyncEnabled": True, "assignedLicenses": [{"skuId": "x"}]},
            {
                "id": "u-2",
                "onPremisesSyncEnabled": None,
                "assignedLicenses": [],
                "signInActivity": {"lastSignInDateTime": "t0"},
            },
            {"id": "u-3"},
        ],
        {"u-1": {"lastSignInDateTime": "t1"}},
    )
    assert facts["u-1"] == {"synced": True, "licensed": True, "interactive": "t1"}
    assert facts["u-2"] == {"synced": False, "licensed": False, "interactive": None}  # the activity source replaces
    assert facts["u-3"]["licensed"] is None
