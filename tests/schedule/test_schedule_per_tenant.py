"""Per-tenant schedules (issue 12 item 1): a tenant's ``overrides.schedule`` gives its own cron job."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from auditor.config import parse_config
from auditor.schedule import AuditScheduler


def test_each_tenant_fires_on_its_own_cron(tmp_path) -> None:
    creds = {"tenant_id": "t", "client_id": "c", "client_secret_env": "NOPE"}
    config = parse_config(
        {
            "tenants": [
                {"name": "contoso", **creds, "overrides": {"schedule": {"cron": "30 6 * * tue"}}},
                {"name": "fabrikam", **creds},
            ],
            "schedule": {"cron": "0 7 * * mon", "timezone": "Europe/Amsterdam"},
            "storage": {"url": f"sqlite:///{tmp_path / 'h.db'}"},
        }
    )
    sched = AuditScheduler(
        config,
        run_fn=lambda c, t: None,
        install_signal_handlers=False,
        clock=lambda: datetime.now(UTC),
    )
    thread = threading.Thread(target=sched.run)
    thread.start()
    try:
        assert sched.started.wait(60)
        assert sched._scheduler is not None
        nxt = {job.id: job.next_run_time for job in sched._scheduler.get_jobs()}
    finally:
        sched.stop()
        thread.join(60)
    ams = ZoneInfo("Europe/Amsterdam")
    contoso, fabrikam = nxt["audit:contoso"].astimezone(ams), nxt["audit:fabrikam"].astimezone(ams)
    assert (contoso.strftime("%a"), contoso.hour, contoso.minute) == ("Tue", 6, 30)
    assert (fabrikam.strftime("%a"), fabrikam.hour, fabrikam.minute) == ("Mon", 7, 0)
