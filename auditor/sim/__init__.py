"""A Microsoft Graph / Exchange Online simulator for tests, benchmarks and demos.

It serves snapshot-shaped tenants over HTTPS on loopback with the real wire format (MSAL logins, Graph
paging and ``$batch``, the Exchange admin API), plus throttling and fault injection::

    from auditor.sim import Simulator, SimOptions, SimTenant

    with Simulator([SimTenant(snapshot)], SimOptions(latency_ms=5)) as sim:
        sim.authority_host, sim.graph_endpoint, sim.exchange_endpoint, sim.ca_bundle_path
"""

from auditor.sim.options import SentAttachment, SentMail, SimOptions, SimTenant
from auditor.sim.server import Simulator
from auditor.sim.stats import SimStats
from auditor.sim.tls import make_app_certificate

__all__ = ["SentAttachment", "SentMail", "SimOptions", "SimStats", "SimTenant", "Simulator", "make_app_certificate"]
