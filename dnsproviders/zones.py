"""Publishing a service's records, as its active target gives them, into zone files: how the
embedded demo and the tests start from a zone that matches the registry."""

from __future__ import annotations

from collections import defaultdict

from dnsproviders.models import ProviderAccount
from dnsproviders.registry import zone_dir
from dnsproviders.zonefile.provider import seed_zone


def publish_zone_files(service) -> int:
    active = service.targets.filter(active=True).first()
    if active is None:
        return 0
    per_zone: dict[tuple, dict] = defaultdict(dict)
    records = service.records.select_related("provider_account").prefetch_related("values")
    for record in records.filter(provider_account__kind=ProviderAccount.Kind.ZONE_FILE):
        value = next((v for v in record.values.all() if v.target_id == active.pk), None)
        if value is not None:
            key = (record.provider_account.pk, record.zone)
            per_zone[key][(record.name, record.rtype)] = (record.ttl, list(value.values), record)
    added = 0
    for (_, zone), entries in per_zone.items():
        account = next(iter(entries.values()))[2].provider_account
        path = zone_dir(account) / f"{zone.rstrip('.').lower()}.zone"
        added += seed_zone(path, zone, {k: (ttl, vals) for k, (ttl, vals, _) in entries.items()})
    return added
