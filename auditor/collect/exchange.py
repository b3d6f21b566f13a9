"""The Exchange Online admin API (``InvokeCommand``), the REST surface behind the EXO V3 module.

Paging: POST the same body again to ``@odata.nextLink`` until it is absent.

Redirects: some tenants are sent to a tenant-specific host. A redirect is followed (the same POST re-sent)
only when it stays on an Exchange Online host of the tenant's cloud (``allowed``); later calls then go
straight to that host. Any other target is refused with a clear error, so the token never leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditor.transport.http import MAX_PAGES, ApiClient, ApiError, MalformedResponse, PageGuard, Redirected, next_link

MAX_REDIRECTS = 3


class ExchangeClient:
    def __init__(self, api: ApiClient, base: str, tenant_id: str, allowed: Callable[[str], bool] | None = None) -> None:
        self.api = api
        self.allowed = allowed or (lambda url: url.startswith(self.base + "/"))
        self.base = base.rstrip("/")
        self.tenant_id = tenant_id
        self.scope = f"{self.base}/.default"
        self.url = f"{self.base}/adminapi/beta/{tenant_id}/InvokeCommand"
        self.headers = {
            "Prefer": "odata.maxpagesize=1000",
            "X-AnchorMailbox": f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{tenant_id}",
            "X-ResponseFormat": "json",
        }

    async def invoke(
        self, cmdlet: str, parameters: dict[str, Any] | None = None, *, max_pages: int = MAX_PAGES
    ) -> list[Any]:
        """Run a Get-* cmdlet and return every object it produced (all pages)."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        records: list[Any] = []
        url: str | None = self.url
        guard = PageGuard(max_pages)
        while url:
            resp, url = await self._post(url, body)
            page = resp.body
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise MalformedResponse(url, f"{cmdlet} returned a page without a 'value' list")
            records.extend(page["value"])
            url = guard.check(url, next_link(url, page.get("@odata.nextLink")))
        return records

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[Any, str]:
        """POST ``body`` to ``url``, following redirects within the cloud's Exchange hosts."""
        for _ in range(MAX_REDIRECTS + 1):
            try:
                resp = await self.api.request(
                    "POST", url, scope=self.scope, service="exchange", json_body=body, headers=self.headers
                )
                return resp, url
            except Redirected as exc:
                if not self.allowed(exc.location):
                    raise ApiError(
                        exc.status,
                        "RedirectRefused",
                        f"the Exchange admin API redirected to {exc.location}, which is not an Exchange Online "
                        "host of this cloud; not followed (the access token would go with it)",
                        url,
                    ) from exc
                if url == self.url:
                    self.url = exc.location  # the tenant-specific host serves the later calls too
                url = exc.location
        raise ApiError(310, "TooManyRedirects", f"more than {MAX_REDIRECTS} redirects", url)
