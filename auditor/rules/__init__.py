"""Rules: importing this package registers every rule in ``REGISTRY``, in catalog order.

One module per area: admins, conditional access, MFA, mailboxes, locations. Each rule is a function
decorated with ``@rule(...)`` (see ``registry.py``) that carries its metadata, its place in the catalog
and its named example cases.
"""

from __future__ import annotations

# Importing the rule modules registers their rules.
from auditor.rules import (  # noqa: F401
    admins,
    conditional_access,
    coverage_gaps,
    emergency,
    exchange,
    locations,
    mailboxes,
    methods,
    mfa,
)
from auditor.rules.registry import REGISTRY, Case, RuleContext, RuleSpec, rule

__all__ = ["REGISTRY", "Case", "RuleContext", "RuleSpec", "rule"]
