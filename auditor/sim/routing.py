"""Route table entries and the context every handler receives."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from auditor.sim.options import SentMail, SimOptions
from auditor.sim.wire import PageTokens, SimRequest, SimResponse, graph_error

Family = Literal["identity", "reports", "ca", "mail", "none"]


@dataclass
class SimContext:
    """Server-wide state handed to handlers (lives on the simulator's event loop thread)."""

    options: SimOptions
    page_tokens: PageTokens
    rng: random.Random
    sent_mail: list[SentMail] = field(default_factory=list)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)


Handler = Callable[[SimContext, SimRequest, "re.Match[str]"], SimResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    family: Family = "identity"
    versions: tuple[str, ...] = ("v1.0", "beta")
    #: route whose permission the token needs (defaults to ``name``); "" = no permission check
    permission: str | None = None


def route(
    method: str,
    pattern: str,
    name: str,
    handler: Handler,
    family: Family = "identity",
    versions: tuple[str, ...] = ("v1.0", "beta"),
    permission: str | None = None,
) -> Route:
    return Route(method, re.compile(pattern, re.IGNORECASE), name, handler, family, versions, permission)


def licence_error(source: str, route_name: str) -> SimResponse:
    if source == "role_eligibility":  # a licence refusal that is a 400, as Graph answers it
        return graph_error(
            400,
            "AadPremiumLicenseRequired",
            "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.",
            route_name,
        )
    if source == "pim_group_eligibility":
        return graph_error(403, "AadPremiumLicenseRequired", "The tenant needs an AAD Premium 2 license.", route_name)
    if source == "registration_details":
        return graph_error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Tenant is not a B2C tenant and doesn't have premium licenses",
            route_name,
        )
    return graph_error(
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Neither tenant is B2C or tenant doesn't have premium license",
        route_name,
    )


def unavailable_source(req: SimRequest, source: str, route_name: str) -> SimResponse | None:
    """The error a real tenant gives for a source the snapshot could not collect (None if available)."""
    tenant = req.tenant
    if tenant.licence_missing(source):
        return licence_error(source, route_name)
    if tenant.available(source):
        return None
    if source == "mfa_service_policy":
        return graph_error(404, "NotFound", "The requested resource does not exist.", route_name)
    return graph_error(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", route_name
    )
