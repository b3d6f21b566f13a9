"""National clouds: where to log in, where Graph lives and where the Exchange admin API lives.

A token from one cloud is not accepted in another, so the three hosts always come from one row.
``custom`` takes all three from the tenant configuration (used for sovereign/test endpoints and the
project's simulator); MSAL instance discovery is switched off for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.config import TenantConfig
from auditor.errors import ConfigError


@dataclass(frozen=True)
class CloudEndpoints:
    """Base URLs (no trailing slash) for one cloud."""

    name: str
    authority_host: str
    graph: str
    exchange: str
    instance_discovery: bool = True

    def authority(self, tenant_id: str) -> str:
        return f"{self.authority_host}/{tenant_id}"

    @property
    def graph_scope(self) -> str:
        return f"{self.graph}/.default"

    @property
    def exchange_scope(self) -> str:
        return f"{self.exchange}/.default"


CLOUDS: dict[str, CloudEndpoints] = {
    "global": CloudEndpoints(
        "global",
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://outlook.office365.com",
    ),
    "usgov": CloudEndpoints(
        "usgov",
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://outlook.office365.us",
    ),
    "usgovdod": CloudEndpoints(
        "usgovdod",
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "https://webmail.apps.mil",
    ),
    "china": CloudEndpoints(
        "china",
        "https://login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://partner.outlook.cn",
    ),
}


def _base(url: str) -> str:
    return url.rstrip("/")


def endpoints_for(tenant: TenantConfig) -> CloudEndpoints:
    """The endpoints of the tenant's cloud (``custom`` reads them from the configuration)."""
    if tenant.cloud == "custom":
        missing = [
            k for k in ("authority_host", "graph_endpoint", "exchange_endpoint") if not getattr(tenant, k)
        ]
        if missing:
            raise ConfigError(f"Tenant {tenant.name}: cloud custom needs {', '.join(missing)}.")
        return CloudEndpoints(
            "custom",
            _base(str(tenant.authority_host)),
            _base(str(tenant.graph_endpoint)),
            _base(str(tenant.exchange_endpoint)),
            instance_discovery=False,
        )
    try:
        return CLOUDS[tenant.cloud]
    except KeyError as exc:  # pragma: no cover - the config model restricts the values
        raise ConfigError(f"Tenant {tenant.name}: unknown cloud {tenant.cloud!r}.") from exc
