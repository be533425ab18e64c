"""Plans from the registry: the governed records as the plan builder reads them, and the plan
of a failover with its `expected` values read live from the providers."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from dnsproviders.base import ProviderError
from dnsproviders.models import ProviderAccount
from dnsproviders.registry import provider_for
from failover.errors import InvalidInput, ProviderUnavailable
from failover.models import GovernedRecord, RecordValue, Service, Target
from failover.plans import (
    PlanError,
    build_plan,
    by_zone,
    drill_plan,
    record_facts,
    target_facts,
    with_live_values,
)
from failover.precompiled import compiled


def registry_records(service_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Each service's governed records as `build_plan` reads them, in two queries."""
    found: dict[int, list[dict]] = {pk: [] for pk in service_ids}
    if len(found) == 1:  # the gate, a request's drift: its SQL written once per process
        (service_id,) = found
        by_record: dict[int, dict[str, list[str]]] = {}
        query = compiled("registry-values", _values_of, "service")
        for value in query.objects(service=service_id):
            by_record.setdefault(value.record_id, {})[value.target.name] = list(value.values)
        query = compiled("registry-records", _records_of, "service")
        found[service_id] = [
            record_facts(record, by_record.get(record.pk, {}))
            for record in query.objects(service=service_id)
        ]
        return found
    queryset = (
        GovernedRecord.objects.filter(service_id__in=list(found))
        .select_related("provider_account")
        .prefetch_related(Prefetch("values", RecordValue.objects.select_related("target")))
    )
    for record in queryset:
        values = {v.target.name: list(v.values) for v in record.values.all()}
        found[record.service_id].append(record_facts(record, values))
    return found


def _records_of(service: int) -> QuerySet[GovernedRecord]:
    return GovernedRecord.objects.filter(service_id=service).select_related("provider_account")


def _values_of(service: int) -> QuerySet[RecordValue]:
    return RecordValue.objects.filter(record__service_id=service).select_related("target")


def registry_plan(
    service: Service,
    from_target: Target,
    to_target: Target,
    segment: str,
    records: list[dict] | None = None,
) -> dict:
    """The plan from the registry alone (`expected` is the from-target's registry values);
    raises PlanError. `records` as from `registry_records`, read here when not given."""
    if records is None:
        records = registry_records([service.pk])[service.pk]
    return build_plan(
        service=service.slug,
        from_target=from_target.name,
        to_target=to_target.name,
        segment=segment,
        records=records,
        targets={"from": target_facts(from_target), "to": target_facts(to_target)},
    )


def plan_for(
    service: Service, from_target: Target, to_target: Target, segment: str, *, drill: bool = False
) -> dict:
    """The plan from the registry, its `expected` values read live from the providers; for a
    `drill`, on the drill records (failover/plans.py `drill_plan`)."""
    try:
        plan = registry_plan(service, from_target, to_target, segment)
        if drill:
            plan = drill_plan(plan)
        accounts = {
            a.name: a
            for a in ProviderAccount.objects.filter(
                name__in={c["provider_account"] for c in plan["changes"]}
            )
        }
        return with_live_values(plan, read_live(plan, accounts))
    except PlanError as exc:
        raise InvalidInput(str(exc), {"target": str(exc)}) from None


def read_live(plan: dict, accounts: dict) -> dict[tuple, list[str]]:
    live = {}
    for (account_name, zone), changes in by_zone(plan["changes"]).items():
        try:
            values = provider_for(accounts[account_name]).read(zone, changes)
        except ProviderError as exc:
            raise ProviderUnavailable(
                f"cannot read the live records of {zone} from {account_name}: {exc.message}"
            ) from None
        for (name, rtype, set_id), found in values.items():
            live[(account_name, zone, name, rtype, set_id)] = found
    return live
