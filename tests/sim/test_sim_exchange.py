"""Exchange admin API (InvokeCommand paging, batch, role checks) and Graph mail delivery."""

from __future__ import annotations

import base64
import os
import ssl
from datetime import UTC, datetime

import httpx
import pytest

from auditor.sim import SimOptions, SimTenant, Simulator
from auditor.sim.tenant_gen import generate_tenant

CLIENT_ID = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
CAS = {"CmdletInput": {"CmdletName": "Get-CASMailbox", "Parameters": {"ResultSize": "Unlimited"}}}


@pytest.fixture(scope="module")
def snapshot():
    return generate_tenant(400, seed=9, now=NOW)


def client(sim: Simulator, tenant_id: str, resource: str) -> httpx.Client:
    verify = ssl.create_default_context(cafile=sim.ca_bundle_path)
    r = httpx.post(
        f"{sim.authority_host}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": "sim-secret",
            "scope": f"{resource}/.default",
        },
        verify=verify,
    )
    r.raise_for_status()
    return httpx.Client(
        verify=verify, base_url=resource, headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )


def test_cas_mailboxes_page_by_reposting_to_next_link(snapshot) -> None:
    expected = snapshot.records("cas_mailboxes")
    with Simulator([SimTenant(snapshot)]) as sim, client(sim, snapshot.tenant_id, sim.exchange_endpoint) as c:
        url = f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand"
        got, pages = [], 0
        while url:
            r = c.post(url, json=CAS, headers={"Prefer": "odata.maxpagesize=100"})
            assert r.status_code == 200, r.text
            assert r.headers["Preference-Applied"] == "odata.maxpagesize=100"
            body = r.json()
            got += body["value"]
            pages += 1
            url = body.get("@odata.nextLink")
            assert url is None or url.startswith(f"{sim.exchange_endpoint}/adminapi/beta/{snapshot.tenant_id}/")
        assert pages == -(-len(expected) // 100) and [m["Guid"] for m in got] == [m["Guid"] for m in expected]
        # the next link belongs to the command it came from
        first = c.post(
            f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand", json=CAS, headers={"Prefer": "odata.maxpagesize=10"}
        ).json()
        other = {"CmdletInput": {"CmdletName": "Get-CASMailbox", "Parameters": {"ResultSize": 5}}}
        assert c.post(first["@odata.nextLink"], json=other).status_code == 400
        transport = c.post(
            f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": "Get-TransportConfig"}},
        ).json()["value"]
        assert transport == [snapshot.records("transport_config")]
        unknown = c.post(
            f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand", json={"CmdletInput": {"CmdletName": "Get-Nothing"}}
        )
        assert unknown.status_code == 400 and unknown.json()["error"]["details"][0]["message"]
        one = expected[0]
        single = c.post(
            f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand?$select=Guid,ImapEnabled",
            json={
                "CmdletInput": {"CmdletName": "Get-CASMailbox", "Parameters": {"Identity": one["PrimarySmtpAddress"]}}
            },
        )
        assert single.json()["value"] == [{"Guid": one["Guid"], "ImapEnabled": one["ImapEnabled"]}]


def test_exchange_batch_and_authorisation(snapshot) -> None:
    tenants = [SimTenant(snapshot)]
    with (
        Simulator(tenants, SimOptions(exo_per_10s=3)) as sim,
        client(sim, snapshot.tenant_id, sim.exchange_endpoint) as c,
    ):
        base = f"{sim.exchange_endpoint}/adminapi/beta/{snapshot.tenant_id}"
        requests = [
            {
                "id": str(i),
                "method": "POST",
                "url": f"{base}/InvokeCommand",
                "body": {"CmdletInput": {"CmdletName": name}},
                "headers": {"Content-Type": "application/json"},
            }
            for i, name in enumerate(
                ["Get-TransportConfig", "Get-OrganizationConfig", "Get-AuthenticationPolicy", "Get-TransportConfig"]
            )
        ]
        r = c.post(f"/adminapi/beta/{snapshot.tenant_id}/$batch", json={"requests": requests})
        by_id = {x["id"]: x for x in r.json()["responses"]}
        assert [by_id[str(i)]["status"] for i in range(3)] == [200, 200, 200]
        assert by_id["3"]["status"] == 429 and int(by_id["3"]["headers"]["Retry-After"]) >= 1
        assert by_id["2"]["body"]["value"] == snapshot.records("authentication_policies")
    with (
        Simulator([SimTenant(snapshot, directory_roles=())]) as sim,
        client(sim, snapshot.tenant_id, sim.exchange_endpoint) as c,
    ):
        r = c.post(f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand", json=CAS)
        assert r.status_code == 403 and "Directory Roles" in r.json()["error"]["message"]
    with Simulator([SimTenant(snapshot, granted={"User.Read.All"})]) as sim:
        with client(sim, snapshot.tenant_id, sim.exchange_endpoint) as c:
            assert c.post(f"/adminapi/beta/{snapshot.tenant_id}/InvokeCommand", json=CAS).status_code == 401
        with client(sim, snapshot.tenant_id, sim.graph_endpoint) as g:
            # a Graph token does not open the Exchange API
            r = g.post(f"{sim.exchange_endpoint}/adminapi/beta/{snapshot.tenant_id}/InvokeCommand", json=CAS)
            assert r.status_code == 401


def test_send_mail_inline_and_large_attachment_upload(snapshot) -> None:
    sender = snapshot.records("users")[0]["userPrincipalName"]
    small = os.urandom(2048)
    big = os.urandom(5 * 1024 * 1024 + 123)
    with Simulator([SimTenant(snapshot)]) as sim, client(sim, snapshot.tenant_id, sim.graph_endpoint) as g:
        r = g.post(
            f"/v1.0/users/{sender}/sendMail",
            json={
                "message": {
                    "subject": "Weekly audit <b>",
                    "body": {"contentType": "HTML", "content": "<p>hi</p>"},
                    "toRecipients": [{"emailAddress": {"address": "secops@example.com"}}],
                    "attachments": [
                        {
                            "@odata.type": "#microsoft.graph.fileAttachment",
                            "name": "a.json",
                            "contentType": "application/json",
                            "contentBytes": base64.b64encode(small).decode(),
                        }
                    ],
                },
                "saveToSentItems": False,
            },
        )
        assert r.status_code == 202 and not r.content
        assert g.post("/v1.0/users/nobody@example.com/sendMail", json={"message": {}}).status_code == 404
        draft = g.post(
            f"/v1.0/users/{sender}/messages",
            json={
                "subject": "Large",
                "body": {"contentType": "Text", "content": "see attached"},
                "toRecipients": [{"emailAddress": {"address": "secops@example.com"}}],
            },
        )
        assert draft.status_code == 201
        mid = draft.json()["id"]
        session = g.post(
            f"/v1.0/users/{sender}/messages/{mid}/attachments/createUploadSession",
            json={"AttachmentItem": {"attachmentType": "file", "name": "report.xlsx", "size": len(big)}},
        )
        assert session.status_code == 201
        upload_url = session.json()["uploadUrl"]
        assert session.json()["nextExpectedRanges"] == ["0-"]
        chunk = 4 * 1024 * 1024
        with httpx.Client(verify=ssl.create_default_context(cafile=sim.ca_bundle_path)) as raw:
            rejected = raw.put(
                upload_url,
                content=big[:10],
                headers={"Content-Range": f"bytes 0-9/{len(big)}", "Authorization": g.headers["Authorization"]},
            )
            assert rejected.status_code == 401
            out_of_order = raw.put(
                upload_url, content=big[chunk:], headers={"Content-Range": f"bytes {chunk}-{len(big) - 1}/{len(big)}"}
            )
            assert out_of_order.status_code == 416
            statuses = []
            for start in range(0, len(big), chunk):
                part = big[start : start + chunk]
                resp = raw.put(
                    upload_url,
                    content=part,
                    headers={"Content-Range": f"bytes {start}-{start + len(part) - 1}/{len(big)}"},
                )
                statuses.append(resp.status_code)
            assert statuses == [200, 201]
        assert g.post(f"/v1.0/users/{sender}/messages/{mid}/send").status_code == 202
        assert g.post(f"/v1.0/users/{sender}/messages/{mid}/send").status_code == 400  # already sent
        first, second = sim.sent_mail
        assert first.via == "sendMail" and first.subject == "Weekly audit <b>" and first.to == ["secops@example.com"]
        assert first.attachments[0].data == small and first.body_type == "HTML"
        assert second.via == "draft" and second.attachments[0].name == "report.xlsx"
        assert second.attachments[0].data == big
    with (
        Simulator([SimTenant(snapshot, granted={"User.Read.All"})]) as sim,
        client(sim, snapshot.tenant_id, sim.graph_endpoint) as g,
    ):
        r = g.post(
            f"/v1.0/users/{sender}/sendMail",
            json={"message": {"toRecipients": [{"emailAddress": {"address": "x@example.com"}}]}},
        )
        assert r.status_code == 403 and not sim.sent_mail
