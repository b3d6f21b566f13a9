"""Talking to Microsoft's services, shared by collect, doctor and deliver.

``auth`` (MSAL token provider, secret redaction), ``clouds`` (endpoints per national cloud), ``tls``
(the SSL context and CA bundles), ``http`` (the async API client with retries) and ``pacing``
(per-service rate windows and unit budgets). Nothing here knows about snapshots, rules or reports.
"""
