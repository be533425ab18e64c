"""Which services an integration may feed (DESIGN invariant 15).

Two keys, both needed for a signal: the integration's own allow-list (an admin chose this
tool for this service: one bot account may serve several tools, and a tool's secret should
not speak for services it was never set up for), and `declare` held now by its service
account (a breaching signal pre-approves a failover, an act as strong as declaring one).
Resolving a signal needs the allow-list only: it never grants anything, and must still clear
a signal after `declare` was taken away.
"""

from __future__ import annotations

from failover.chain import holds
from failover.intake.models import Integration
from failover.models import Service

SHOWN = 10  # allowed services named in a refusal


def allowed_service(integration: Integration, slug: str) -> Service | None:
    return integration.services.filter(slug=slug).first()


def refusal(integration: Integration, slug: str, *, declare: bool = True) -> str | None:
    """Why this integration may not change signals of the service `slug`, or None."""
    service = allowed_service(integration, slug)
    if service is None:
        allowed = list(integration.services.values_list("slug", flat=True)[: SHOWN + 1])
        listing = ", ".join(allowed[:SHOWN]) + (" …" if len(allowed) > SHOWN else "")
        return (
            f"refused: service '{slug}' is not on the allow-list of integration "
            f"'{integration.name}' (it may feed: {listing or 'no service'}); allow it with "
            f"manage.py create_integration --allow {integration.name} --service SLUG"
        )
    if declare and not holds(integration.account, service, "declare"):
        return (
            f"refused: the integration's account '{integration.account.username}' does not "
            f"hold the 'declare' authority on service '{service.slug}'"
        )
    return None
