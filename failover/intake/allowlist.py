"""Which services an integration may feed (DESIGN invariant 15).

Two keys, both needed for a signal: the integration's own allow-list (an admin chose this
tool for this service: one bot account may serve several tools, and a tool's secret should
not speak for services it was never set up for), and `declare` held now by its service
account (a breaching signal pre-approves a failover, an act as strong as declaring one).
Resolving a signal needs the allow-list only: it never grants anything, and must still clear
a signal after `declare` was taken away.
"""

from __future__ import annotations

from failover.chain import holdings
from failover.intake.models import Integration

SHOWN = 10  # allowed services named in a refusal


def refusal(integration: Integration, slug: str, *, declare: bool = True) -> str | None:
    """Why this integration may not change signals of the service `slug`, or None."""
    return refusals(integration, {(slug, declare)})[(slug, declare)]


def refusals(
    integration: Integration, asked: set[tuple[str, bool]]
) -> dict[tuple[str, bool], str | None]:
    """`refusal` for several (slug, declare) at once, as the events of a batch of deliveries
    ask it: the allow-list in one query and the account's grants on them in another, read
    once for the batch rather than twice an event."""
    allowed = {s.slug: s for s in integration.services.filter(slug__in={s for s, _ in asked})}
    declaring = {allowed[slug].pk for slug, declare in asked if declare and slug in allowed}
    held, _ = holdings(declaring, [integration.account_id])
    answers: dict[tuple[str, bool], str | None] = {}
    for slug, declare in asked:
        service = allowed.get(slug)
        if service is None:
            answers[(slug, declare)] = _not_allowed(integration, slug)
        elif declare and "declare" not in held.get((service.pk, integration.account_id), ()):
            answers[(slug, declare)] = (
                f"refused: the integration's account '{integration.account.username}' does "
                f"not hold the 'declare' authority on service '{service.slug}'"
            )
        else:
            answers[(slug, declare)] = None
    return answers


def _not_allowed(integration: Integration, slug: str) -> str:
    allowed = list(integration.services.values_list("slug", flat=True)[: SHOWN + 1])
    listing = ", ".join(allowed[:SHOWN]) + (" …" if len(allowed) > SHOWN else "")
    return (
        f"refused: service '{slug}' is not on the allow-list of integration "
        f"'{integration.name}' (it may feed: {listing or 'no service'}); allow it with "
        f"manage.py create_integration --allow {integration.name} --service SLUG"
    )
