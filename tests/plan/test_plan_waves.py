"""The per-user MFA → Conditional Access migration plan on tenants built for it."""

from __future__ import annotations

from plan_tenants import FORMULA_NAME, all_safe, model_of, none_safe

from auditor.plan import ADMINS, COVER_FIRST, LEGACY, NOTHING_TO_BREAK, STEPS, MigrationPlan, PlanUser, build_plan
from auditor.testing import admin_policy_for_portals_only, ca_policy, sign_in


def _by_upn(plan: MigrationPlan) -> dict[str, PlanUser]:
    return {u.upn: u for u in plan.users}


def test_every_per_user_mfa_user_safe_to_migrate_is_in_wave_1() -> None:
    plan = build_plan(model_of(all_safe()))
    assert plan.status == "assessed"
    assert sorted(u.upn for u in plan.users) == ["bob@contoso.com", "carol@contoso.com", "erin@contoso.com"]
    assert {u.wave for u in plan.users} == {NOTHING_TO_BREAK}
    assert [(w.wave, w.count) for w in plan.waves] == [(0, 0), (1, 3), (2, 0), (3, 0)]
    carol = _by_upn(plan)["carol@contoso.com"]
    assert carol.display_name == FORMULA_NAME
    assert carol.covered is True and carol.covered_by == ["MFA for everyone"] and carol.not_covered_because == []
    assert carol.legacy_sign_ins == 0 and carol.legacy_protocols == {}
    # nothing to cover, nothing to move: per-user MFA off, then the app passwords
    assert [s.step for s in carol.steps] == ["per_user_mfa_off", "revoke_app_passwords"]
    assert carol.next_action.startswith("Set the user's per-user MFA state to disabled")
    # users without per-user MFA are not in the plan
    assert "alice@contoso.com" not in _by_upn(plan)


def test_no_per_user_mfa_user_is_safe_to_migrate() -> None:
    plan = build_plan(model_of(none_safe()))
    users = _by_upn(plan)
    assert set(users) == {"alice@contoso.com", "bob@contoso.com", "dave@contoso.com"}
    assert plan.in_wave(NOTHING_TO_BREAK) == []
    # ordered: cover first, then admins, then legacy
    assert [u.upn for u in plan.users] == ["dave@contoso.com", "alice@contoso.com", "bob@contoso.com"]

    dave = users["dave@contoso.com"]
    assert (dave.wave, dave.then_wave, dave.covered) == (COVER_FIRST, NOTHING_TO_BREAK, False)
    assert any("excluded from 'MFA for everyone'" in why for why in dave.not_covered_because)
    assert dave.steps[0].step == "cover" and "excluded from 'MFA for everyone'" in dave.next_action
    assert dave.phone_only is True and any("phone methods only" in n for n in dave.notes)

    alice = users["alice@contoso.com"]
    assert (alice.wave, alice.admin, alice.roles) == (ADMINS, True, ["Global Administrator"])
    assert alice.covered is True

    bob = users["bob@contoso.com"]
    assert (bob.wave, bob.covered) == (LEGACY, True)
    # successful sign-ins only, by protocol: the failed POP3 attempt breaks nothing
    assert bob.legacy_protocols == {"Authenticated SMTP": 1, "IMAP4": 2} and bob.legacy_sign_ins == 3
    assert bob.legacy_ips == ["203.0.113.9"]
    assert bob.mailbox_protocols == ["IMAP", "SMTP AUTH"]
    assert [s.step for s in bob.steps] == ["legacy_app", "per_user_mfa_off", "revoke_app_passwords"]
    assert "Authenticated SMTP, IMAP4" in bob.next_action and "203.0.113.9" in bob.next_action
    assert [(w.wave, w.count, w.admins, w.with_legacy_sign_ins) for w in plan.waves] == [
        (0, 1, 0, 0),
        (1, 0, 0, 0),
        (2, 1, 1, 0),
        (3, 1, 0, 1),
    ]


def test_steps_always_follow_the_documented_order() -> None:
    for records in (all_safe(), none_safe()):
        for u in build_plan(model_of(records)).users:
            order = [STEPS.index(s.step) for s in u.steps]
            assert order == sorted(order) and order[-2:] == [2, 3]


def test_uncovered_admin_with_legacy_sign_ins_covers_first_then_joins_the_last_wave() -> None:
    r = none_safe()
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    r["conditional_access"][0] = ca_policy(
        "ca-mfa", "MFA for everyone", grant=["mfa"], users={"excludeUsers": ["u-dave", "u-alice"]}
    )
    r["sign_ins"].append(sign_in("u-alice", "alice@contoso.com", "Exchange ActiveSync"))
    alice = _by_upn(build_plan(model_of(r)))["alice@contoso.com"]
    assert (alice.wave, alice.then_wave) == (COVER_FIRST, LEGACY)
    assert [s.step for s in alice.steps] == list(STEPS)


def test_security_defaults_cover_everyone() -> None:
    r = none_safe()
    r["conditional_access"] = []
    r["security_defaults"]["isEnabled"] = True
    plan = build_plan(model_of(r))
    assert all(u.covered and u.covered_by == ["security defaults"] for u in plan.users)
    assert plan.in_wave(COVER_FIRST) == []


def test_report_only_baseline_covers_nobody_and_says_why() -> None:
    r = all_safe()
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    r["conditional_access"][0]["state"] = "enabledForReportingButNotEnforced"
    plan = build_plan(model_of(r))
    assert {u.wave for u in plan.users} == {COVER_FIRST}
    why = plan.users[0].not_covered_because
    assert why[0] == "no in-force Conditional Access policy requires MFA for All resources"
    assert any("'MFA for everyone' does not count" in w for w in why)
    assert "security defaults are off" in why


def test_missing_sources_never_look_safe() -> None:
    # Without sign-in logs legacy use is unknown: nobody is in wave 1.
    plan = build_plan(model_of(all_safe(), failed={"sign_ins": "403 Forbidden"}))
    assert plan.sign_ins_collected is False
    assert {(u.wave, u.legacy_sign_ins) for u in plan.users} == {(LEGACY, None)}
    assert plan.users[0].steps[0].step == "legacy_app"
    # Without Conditional Access (and security defaults off) coverage is unknown: cover first.
    plan = build_plan(model_of(all_safe(), failed={"conditional_access": "403 Forbidden"}))
    assert {(u.wave, u.covered) for u in plan.users} == {(COVER_FIRST, None)}
    assert "Conditional Access policies were not collected" in plan.users[0].not_covered_because[0]
    # Without per-user MFA states there is no plan, and it says why.
    plan = build_plan(model_of(all_safe(), failed={"per_user_mfa": "the beta endpoint returned 404"}))
    assert plan.status == "not_assessed" and "per_user_mfa" in (plan.reason or "") and plan.users == []
