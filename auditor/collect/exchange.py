"""The Exchange Online admin API (``InvokeCommand``), the REST surface behind the EXO V3 module.

Paging: POST the same body again to ``@odata.nextLink`` until it is absent.
"""

from __future__ import annotations

from typing import Any

from auditor.transport.http import MAX_PAGES, ApiClient, MalformedResponse, PageGuard, next_link


class ExchangeClient:
    def __init__(self, api: ApiClient, base: str, tenant_id: str) -> None:
        self.api = api
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
            resp = await self.api.request(
                "POST", url, scope=self.scope, service="exchange", json_body=body, headers=self.headers
            )
            page = resp.body
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise MalformedResponse(url, f"{cmdlet} returned a page without a 'value' list")
            records.extend(page["value"])
            url = guard.check(url, next_link(url, page.get("@odata.nextLink")))
        return records
