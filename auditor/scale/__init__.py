"""Scale-out: audit many tenants on several machines with Celery (RabbitMQ) and a claim table.

    scheduler ──dispatch()──► RabbitMQ queue ──► worker 1..n ──audit_tenant(tenant, period)──► run_audit
                 │                                    │
                 └──────── scale_claims (history DB) ─┘   one row per (tenant, period): lease, state

Modules: ``settings`` (environment), ``claims`` (the claim table), ``task`` (the task body),
``app`` (Celery factory and worker), ``dispatch`` (periods and enqueueing), ``__main__`` (command line).
Importing this package connects to nothing.
"""

from auditor.scale.claims import Claim, ClaimLost, ClaimStore
from auditor.scale.settings import ScaleSettings

__all__ = ["Claim", "ClaimLost", "ClaimStore", "ScaleSettings"]
