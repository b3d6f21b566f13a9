"""National clouds: where to log in, where Graph lives and where the Exchange admin API lives.

A token from one cloud is not accepted in another, so the three hosts always come from one row.
``custom`` takes all three from the tenant configuration (used for sovereign/test endpoints and the
project's simulator); MSAL instance discovery is switched off for it.

The Exchange host may be overridden per tenant (``exchange_endpoint``) in any cloud: for China the sources
conflict (Maester and the EXO module use ``partner.outlook.cn``, Microsoft's admin API page names
``outlook.office365.cn``); the default is ``partner.outlook.cn``, what working tools call. US Government
DoD is ``outlook-dod.office365.us``. ``exchange_domains`` lists the hosts (and their subdomains) a
redirect of the Exchange admin API may lead to: some tenants are sent to a tenant-specific host, and the
bearer token must never follow a redirect out of the cloud's Exchange Online hosts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

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
    #: host names (and their subdomains) of this cloud's Exchange Online admin API
    exchange_domains: tuple[str, ...] = ()

    def authority(self, tenant_id: str) -> str:
        return f"{self.authority_host}/{tenant_id}"

    @property
    def graph_scope(self) -> str:
        return f"{self.graph}/.default"

    @property
    def exchange_scope(self) -> str:
        return f"{self.exchange}/.default"

    def exchange_host_allowed(self, url: str) -> bool:
        """Whether ``url`` is an https URL on one of this cloud's Exchange Online hosts."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        own = (urlsplit(self.exchange).hostname or "").lower()
        domains = {d.lower() for d in self.exchange_domains} | {own}
        return parts.scheme == "https" and bool(host) and any(host == d or host.endswith("." + d) for d in domains)


CLOUDS: dict[str, CloudEndpoints] = {
    "global": CloudEndpoints(
        "global",
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://outlook.office365.com",
        exchange_domains=("outlook.office365.com", "outlook.office.com"),
    ),
    "usgov": CloudEndpoints(
        "usgov",
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://outlook.office365.us",
        exchange_domains=("outlook.office365.us",),
    ),
    "usgovdod": CloudEndpoints(
        "usgovdod",
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "https://outlook-dod.office365.us",
        exchange_domains=("outlook-dod.office365.us",),
    ),
    "china": CloudEndpoints(
        "china",
        "https://login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://partner.outlook.cn",
        exchange_domains=("partner.outlook.cn", "outlook.office365.cn"),
    ),
}


def _base(url: str) -> str:
    return url.rstrip("/")


def endpoints_for(tenant: TenantConfig) -> CloudEndpoints:
    """The endpoints of the tenant's cloud (``custom`` reads them from the configuration)."""
    if tenant.cloud == "custom":
        missing = [k for k in ("authority_host", "graph_endpoint", "exchange_endpoint") if not getattr(tenant, k)]
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
        cloud = CLOUDS[tenant.cloud]
    except KeyError as exc:  # pragma: no cover - the config model restricts the values
        raise ConfigError(f"Tenant {tenant.name}: unknown cloud {tenant.cloud!r}.") from exc
    if tenant.exchange_endpoint:
        if not str(tenant.exchange_endpoint).startswith("https://"):
            raise ConfigError(f"Tenant {tenant.name}: exchange_endpoint must be an https:// URL.")
        return replace(cloud, exchange=_base(str(tenant.exchange_endpoint)))
    return cloud
