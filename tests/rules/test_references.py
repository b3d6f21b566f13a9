"""Control references: every rule carries well-formed, de-duplicated references to real controls."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from auditor.rules import references as refmod
from auditor.rules.references import (
    FRAMEWORKS,
    NO_BENCHMARK_EQUIVALENT,
    REFERENCES,
    Reference,
    control,
    controls,
    references_for,
)

V1_RULES = {
    "admin-app-passwords",
    "daily-account-per-user-mfa",
    "smtp-auth-org-enabled",
    "smtp-auth-mailbox-enabled",
    "imap-pop-enabled",
    "trusted-ips-duplicate-named-locations",
    "trusted-ips-private-range",
    "trusted-ips-ipv4-only",
    "trusted-location-too-broad",
    "mfa-no-baseline",
    "legacy-auth-not-blocked",
    "legacy-auth-block-excluded",
    "ca-mfa-excluded",
    "per-user-mfa-legacy-config",
    "tenant-app-passwords-allowed",
    "remember-mfa-long",
    "admin-no-mfa-method",
    "legacy-auth-sign-ins",
    "guest-admin",
    "stale-admin",
}
V2_RULES = {
    "per-user-mfa-migration-gap",
    "ca-baseline-excludes-apps",
    "mfa-baseline-device-alternative",
    "legacy-auth-block-location-exempt",
    "admin-not-covered-by-mfa",
    "admin-phone-only-mfa",
    "users-phone-only-mfa",
    "admin-no-phishing-resistant-mfa",
    "auth-methods-migration-incomplete",
    "emergency-access-weak",
    "sync-account-risk",
    "exchange-basic-auth-allowed",
    "exchange-modern-auth-disabled",
    "federated-mfa-bypass",
    "shared-mailbox-sign-in-enabled",
}
HEADLINE_RULES = {
    "admin-app-passwords",
    "daily-account-per-user-mfa",
    "smtp-auth-mailbox-enabled",
    "imap-pop-enabled",
    "trusted-ips-duplicate-named-locations",
}

ID_FORMAT = {
    "CIS M365 v7.0": re.compile(r"^[1-9]\d?(\.\d{1,2}){1,3}$"),
    "CISA SCuBA": re.compile(r"^MS\.(AAD|EXO)\.\d+\.\d+v\d+$"),
    "Maester": re.compile(r"^(MT\.1\d{3}|CISA\.MS\.(AAD|EXO)\.\d+\.\d+|CIS\.M365(\.\d+){2,4})$"),
    "EIDSCA": re.compile(r"^EIDSCA\.[A-Z]{2}\d{2}$"),
    "Microsoft Learn": re.compile(r"^https://learn\.microsoft\.com/[a-z0-9][a-z0-9/\-.]*(#[a-z0-9\-]+)?$"),
    "Microsoft 365 Message Center": re.compile(r"^MC\d{6,7}$"),
}

ALL_REFS = [(rule_id, ref) for rule_id, refs in REFERENCES.items() for ref in refs]


def test_all_35_rules_are_present_and_nothing_else() -> None:
    assert len(V1_RULES) == 20 and len(V2_RULES) == 15
    assert set(REFERENCES) == V1_RULES | V2_RULES


def test_the_v1_rules_are_the_registered_ones() -> None:
    from auditor.rules import REGISTRY

    # A rule registered later (v2) must gain references here before it ships.
    assert set(REGISTRY) <= set(REFERENCES)
    assert set(REGISTRY) >= V1_RULES


@pytest.mark.parametrize("rule_id", sorted(V1_RULES | V2_RULES))
def test_every_rule_rests_on_a_microsoft_learn_page(rule_id: str) -> None:
    refs = references_for(rule_id)
    assert refs, rule_id
    assert any(r.framework == "Microsoft Learn" for r in refs), rule_id


@pytest.mark.parametrize(("rule_id", "ref"), ALL_REFS, ids=[f"{r}:{x.id}" for r, x in ALL_REFS])
def test_ids_are_well_formed_per_framework(rule_id: str, ref: Reference) -> None:
    assert ref.framework in FRAMEWORKS
    assert ID_FORMAT[ref.framework].fullmatch(ref.id), (rule_id, ref.id)
    assert ref.title.strip() == ref.title and 0 < len(ref.title) <= 100, (rule_id, ref.title)
    assert ref.relation in ("equivalent", "adjacent")
    assert ref.relation == "equivalent" or ref.note, f"{rule_id}: an adjacent reference says why"
    assert ref.verified or ref.note, f"{rule_id}: an unverified id says what was checked"
    if ref.url is not None:
        assert ref.url.startswith("https://"), ref.url


def test_learn_references_point_at_learn_and_carry_their_url() -> None:
    learn = [ref for _, ref in ALL_REFS if ref.framework == "Microsoft Learn"]
    assert learn
    for ref in learn:
        assert ref.url is not None and ref.url.startswith("https://learn.microsoft.com/")
        assert ref.url == ref.id
        assert "/en-us/" not in ref.url, "locale-neutral URLs redirect to the reader's language"


def test_scuba_urls_anchor_to_the_policy() -> None:
    for _, ref in ALL_REFS:
        if ref.framework == "CISA SCuBA":
            assert ref.url is not None
            baseline = "aad.md" if ref.id.startswith("MS.AAD.") else "exo.md"
            assert ref.url.endswith(f"/baselines/{baseline}#{ref.id.lower().replace('.', '')}")


def test_maester_and_eidsca_urls_name_the_test() -> None:
    for _, ref in ALL_REFS:
        if ref.framework in ("Maester", "EIDSCA"):
            assert ref.url == f"https://maester.dev/docs/tests/{ref.id}"


@pytest.mark.parametrize("rule_id", sorted(REFERENCES))
def test_no_duplicate_reference_within_a_rule(rule_id: str) -> None:
    keys = [ref.key for ref in REFERENCES[rule_id]]
    assert len(keys) == len(set(keys)), rule_id


def test_one_control_has_one_title_and_url_everywhere() -> None:
    seen: dict[tuple[str, str], tuple[str, str | None]] = {}
    for rule_id, ref in ALL_REFS:
        previous = seen.setdefault(ref.key, (ref.title, ref.url))
        assert previous == (ref.title, ref.url), (rule_id, ref.key)


def test_controls_round_trips() -> None:
    inverse = controls()
    rebuilt: dict[str, set[tuple[str, str]]] = {}
    for key, rule_ids in inverse.items():
        assert rule_ids == tuple(sorted(rule_ids)) and rule_ids
        for rule_id in rule_ids:
            rebuilt.setdefault(rule_id, set()).add(key)
    assert rebuilt == {rule_id: {ref.key for ref in refs} for rule_id, refs in REFERENCES.items()}
    for key in inverse:
        ref = control(*key)
        assert ref is not None and ref.key == key


def test_controls_without_learn_keeps_only_benchmark_controls() -> None:
    benchmark = controls(include_learn=False)
    assert all(framework != "Microsoft Learn" for framework, _ in benchmark)
    assert set(benchmark) <= set(controls())
    assert benchmark[("CIS M365 v7.0", "5.2.2.3")] == (
        "ca-baseline-excludes-apps",
        "legacy-auth-block-excluded",
        "legacy-auth-block-location-exempt",
        "legacy-auth-not-blocked",
        "legacy-auth-sign-ins",
    )
    assert benchmark[("CISA SCuBA", "MS.EXO.5.1v1")] == ("smtp-auth-mailbox-enabled", "smtp-auth-org-enabled")


def test_known_mappings_of_the_catalog_are_carried() -> None:
    def ids(rule_id: str, framework: str) -> set[str]:
        return {r.id for r in REFERENCES[rule_id] if r.framework == framework}

    assert ids("smtp-auth-org-enabled", "CIS M365 v7.0") == {"6.5.4"}
    assert ids("smtp-auth-org-enabled", "Maester") == {"CISA.MS.EXO.5.1"}
    assert {"MS.AAD.3.2v2"} <= ids("mfa-no-baseline", "CISA SCuBA")
    assert "MT.1007" in ids("mfa-no-baseline", "Maester")
    assert {"MT.1009", "MT.1010"} <= ids("legacy-auth-not-blocked", "Maester")
    assert ids("auth-methods-migration-incomplete", "EIDSCA") == {"EIDSCA.AG01"}
    assert ids("emergency-access-weak", "CIS M365 v7.0") == {"1.1.2"}
    assert "MT.1005" in ids("emergency-access-weak", "Maester")
    assert ids("exchange-modern-auth-disabled", "CIS M365 v7.0") == {"6.5.1"}
    assert ids("shared-mailbox-sign-in-enabled", "CIS M365 v7.0") == {"1.2.2"}
    assert ids("exchange-basic-auth-allowed", "Microsoft 365 Message Center") == {"MC786329"}


def test_headline_combinations_have_no_benchmark_equivalent() -> None:
    assert HEADLINE_RULES <= NO_BENCHMARK_EQUIVALENT
    for rule_id in NO_BENCHMARK_EQUIVALENT:
        for ref in REFERENCES[rule_id]:
            assert ref.framework in ("Microsoft Learn", "Microsoft 365 Message Center") or ref.relation == "adjacent"
    # ... while a rule with an equivalent control is not listed.
    assert "smtp-auth-org-enabled" not in NO_BENCHMARK_EQUIVALENT
    assert "legacy-auth-not-blocked" not in NO_BENCHMARK_EQUIVALENT


def test_references_are_immutable() -> None:
    ref = REFERENCES["mfa-no-baseline"][0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        REFERENCES["new-rule"] = ()  # type: ignore[index]
    assert isinstance(REFERENCES["mfa-no-baseline"], tuple)


def test_unknown_rule_has_no_references() -> None:
    assert references_for("no-such-rule") == ()
    assert control("CIS M365 v7.0", "9.9.9") is None


def test_module_is_leaf_level() -> None:
    tree = ast.parse(Path(refmod.__file__).read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not any(name == "auditor" or name.startswith("auditor.") for name in imported), imported
