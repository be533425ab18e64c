"""Bulk seeding for the scale benchmark and the query-count tests.

Rows are built in Python and inserted in batches, never through the services layer: at a
million audit events, one `record_event` per row would take hours. What the services layer
guarantees is kept by construction instead: every service has a complete chain held through
groups, a service has at most one active request, decisions are made by holders of the role
against the request's plan hash, and audit events continue the hash chain from its head
(hashed with `audit.chain`, the head row locked while each batch is appended), so
`verify_audit` passes afterwards. Slugs and usernames carry a prefix: seed each prefix once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import cycle

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.utils import timezone
from guardian.models import GroupObjectPermission

from approvals.models import Decision, Policy
from audit.chain import event_hash
from audit.models import AuditEvent, ChainHead
from audit.services import lock_head
from dnsproviders.models import DnsChange, ProviderAccount
from failover.authorities import AUTHORITIES
from failover.models import FailoverRequest, GovernedRecord, RecordValue, Service, Target
from failover.plans import build_plan, plan_hash, record_facts
from failover.states import State

BATCH = 2000
ZONE = "scale.test."
# One person per authority in every team, each holding it through the team's group.
PERSONAS = {
    "declarer": "declare",
    "avail": "approve_availability",
    "identity": "approve_identity",
    "vetoer": "veto",
    "ir": "sign_off_incident_response",
    "comms": "sign_off_comms",
    "executor": "execute",
    "rollbacker": "rollback",
    "breakglass": "break_glass",
}
# Ended requests cycle through these; the newest request of some services stays pending.
ENDED = (State.CLOSED, State.CLOSED, State.ROLLED_BACK, State.REJECTED, State.CANCELLED)
Progress = Callable[[str], None]


def member(prefix: str, team: int, persona: str) -> str:
    """The username of a team's persona, e.g. member("scale", 0, "declarer")."""
    return f"{prefix}-t{team:04d}-{persona}"


def _quiet(message: str) -> None:
    pass


@contextmanager
def _keep_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Let bulk inserts write the spread-out timestamps the rows were built with: auto_now
    fields would stamp every seeded row with the same instant."""
    saved = []
    for model in model_classes:
        for field in model._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                saved.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _insert(model: type[models.Model], rows: Sequence[models.Model]) -> list:
    return model.objects.bulk_create(rows, batch_size=BATCH)


@transaction.atomic
def seed_services(
    count: int,
    *,
    prefix: str = "scale",
    team_size: int = 10,
    account: ProviderAccount | None = None,
    zones: Sequence[str] = (ZONE,),
    progress: Progress = _quiet,
) -> list[Service]:
    """`count` services, each with a primary (active) and a failover target, one governed A
    record (in `zones` in turn, of `account`: by default zone files), the default policy, and
    a complete chain held by its team (`team_size` services share one team: a group and a
    person per authority)."""
    if account is None:
        account, _ = ProviderAccount.objects.get_or_create(
            name=f"{prefix}-zones", defaults={"kind": "zonefile", "settings": {}}
        )
    services = _insert(
        Service,
        [
            Service(
                slug=f"{prefix}-{n:05d}",
                name=f"{prefix.title()} {n}",
                data_residency_region="eu",
                customer_segments=["retail"],
            )
            for n in range(count)
        ],
    )
    _insert(Policy, [Policy(service=s, execute_on_approval=False) for s in services])
    targets = _insert(
        Target,
        [
            Target(
                service=s,
                name=name,
                role=name,
                active=name == "primary",
                address=address,
                region=region,
                oidc_issuer=f"https://login.{region}.scale.test/",
                certificate_trust=f"{region.upper()} CA",
                data_residency_region=region,
            )
            for s in services
            for name, address, region in (
                ("primary", "198.51.100.1", "eu"),
                ("failover", "203.0.113.1", "us"),
            )
        ],
    )
    records = _insert(
        GovernedRecord,
        [
            GovernedRecord(
                service=s,
                provider_account=account,
                zone=zones[n % len(zones)],
                name=f"{s.slug}.{zones[n % len(zones)]}",
                rtype="A",
            )
            for n, s in enumerate(services)
        ],
    )
    _insert(
        RecordValue,
        [
            RecordValue(record=records[i // 2], target=t, values=[t.address])
            for i, t in enumerate(targets)
        ],
    )
    progress(f"{count} services with targets and records")
    _seed_teams(services, prefix=prefix, team_size=team_size)
    progress(f"{(count + team_size - 1) // team_size} teams holding their chains")
    return services


def _seed_teams(services: Sequence[Service], *, prefix: str, team_size: int) -> None:
    teams = range((len(services) + team_size - 1) // team_size)
    password = make_password(None)  # nobody signs in as a seeded person
    users = _insert(
        get_user_model(),
        [
            get_user_model()(username=member(prefix, t, p), password=password)
            for t in teams
            for p in PERSONAS
        ],
    )
    groups = _insert(
        Group, [Group(name=f"{prefix}-t{t:04d} {a}") for t in teams for a in PERSONAS.values()]
    )
    Membership = get_user_model().groups.through
    _insert(
        Membership,
        [Membership(user_id=u.pk, group_id=g.pk) for u, g in zip(users, groups, strict=True)],
    )
    ct = ContentType.objects.get_for_model(Service)
    perms = dict(
        Permission.objects.filter(content_type=ct, codename__in=AUTHORITIES).values_list(
            "codename", "pk"
        )
    )
    per_team = len(PERSONAS)
    _insert(
        GroupObjectPermission,
        [
            GroupObjectPermission(
                group=groups[(n // team_size) * per_team + k],
                permission_id=perms[authority],
                content_type=ct,
                object_pk=str(service.pk),
            )
            for n, service in enumerate(services)
            for k, authority in enumerate(PERSONAS.values())
        ],
    )


def _plans(services: Sequence[Service]) -> dict[int, tuple[dict, str, int, int]]:
    """service pk -> (its primary-to-failover plan, its hash, primary and failover target pk)."""
    found = {}
    for start in range(0, len(services), 500):  # SQLite refuses very long IN lists
        found.update(_plans_of(services[start : start + 500]))
    return found


def _plans_of(services: Sequence[Service]) -> dict[int, tuple[dict, str, int, int]]:
    records = {
        r.service_id: r
        for r in GovernedRecord.objects.filter(service__in=services).select_related(
            "provider_account"
        )
    }
    values: dict[int, dict[str, list]] = {}
    for record_id, target, found in RecordValue.objects.filter(
        record__service__in=services
    ).values_list("record_id", "target__name", "values"):
        values.setdefault(record_id, {})[target] = found
    targets: dict[int, dict[str, int]] = {}
    for service_id, name, pk in Target.objects.filter(service__in=services).values_list(
        "service_id", "name", "pk"
    ):
        targets.setdefault(service_id, {})[name] = pk
    found = {}
    for service in services:
        record = records[service.pk]
        plan = build_plan(
            service=service.slug,
            from_target="primary",
            to_target="failover",
            segment="",
            records=[record_facts(record, values[record.pk])],
        )
        primary, failover = targets[service.pk]["primary"], targets[service.pk]["failover"]
        found[service.pk] = (plan, plan_hash(plan), primary, failover)
    return found


def _people(prefix: str) -> dict[str, int]:
    users = get_user_model().objects.filter(username__startswith=f"{prefix}-t")
    return dict(users.values_list("username", "pk"))


def seed_requests(
    count: int,
    services: Sequence[Service],
    *,
    prefix: str = "scale",
    team_size: int = 10,
    pending_every: int = 20,
    progress: Progress = _quiet,
) -> int:
    """`count` requests spread round-robin over `services` (seeded with the same prefix and
    team size), one a minute into the past. The newest request of every `pending_every`-th
    service is pending; all others ended (closed, rolled back, rejected, cancelled), with the
    decisions and DNS change that got them there. Returns how many are pending."""
    if not services or count <= 0:
        return 0
    plans = _plans(services)
    people = _people(prefix)
    index = {s.pk: n for n, s in enumerate(services)}
    now = timezone.now()
    pending = 0
    with _keep_timestamps(FailoverRequest, Decision, DnsChange):
        for start in range(0, count, BATCH):
            built = []
            for i in range(start, min(count, start + BATCH)):
                service = services[i % len(services)]
                team = index[service.pk] // team_size
                newest = i >= count - len(services)
                state = (
                    State.PENDING
                    if newest and index[service.pk] % pending_every == 0
                    else ENDED[(i // len(services)) % len(ENDED)]
                )
                pending += state == State.PENDING
                created = now - timedelta(minutes=count - i)
                requester = people[member(prefix, team, "declarer")]
                built.append((_request(service, state, created, requester, plans, i), team))
            with transaction.atomic():
                requests = _insert(FailoverRequest, [r for r, _ in built])
                _seed_outcomes(requests, [team for _, team in built], people, prefix)
            progress(f"{min(count, start + BATCH)}/{count} requests")
    return pending


def _request(service, state, created, requester, plans, i) -> FailoverRequest:
    plan, digest, primary, failover = plans[service.pk]
    went_through = state in (State.CLOSED, State.ROLLED_BACK)
    return FailoverRequest(
        service=service,
        from_target_id=primary,
        to_target_id=failover,
        reason=f"seeded failover {i}",
        incident_ref=f"INC-{i}",
        requester_id=requester,
        rollback_criteria={"min_minutes_on_target": 30},
        plan=plan,
        plan_hash=digest,
        state=state,
        created_at=created,
        updated_at=created + timedelta(seconds=50),
        expires_at=created + timedelta(hours=4),
        approved_at=created + timedelta(seconds=20) if went_through else None,
        applied_at=created + timedelta(seconds=30) if went_through else None,
        ended_at=None if state == State.PENDING else created + timedelta(seconds=50),
    )


def _seed_outcomes(requests, teams, people, prefix) -> None:
    decisions, changes = [], []
    accounts = dict(ProviderAccount.objects.values_list("name", "pk"))
    for request, team in zip(requests, teams, strict=True):
        at = request.created_at
        if request.state in (State.CLOSED, State.ROLLED_BACK):
            for second, persona, role in (
                (10, "avail", "availability"),
                (20, "identity", "identity"),
            ):
                decisions.append(
                    Decision(
                        request=request,
                        actor_id=people[member(prefix, team, persona)],
                        kind="approve",
                        role=role,
                        plan_hash=request.plan_hash,
                        channel="api",
                        created_at=at + timedelta(seconds=second),
                    )
                )
            changes.append(
                DnsChange(
                    request=request,
                    direction="failover",
                    provider_account_id=accounts[request.plan["changes"][0]["provider_account"]],
                    zone=request.plan["changes"][0]["zone"],
                    changes=request.plan["changes"],
                    plan_hash=request.plan_hash,
                    status=DnsChange.Status.VERIFIED,
                    provider_change_id=f"seed-{request.pk}",
                    attempts=1,
                    created_at=at + timedelta(seconds=20),
                    updated_at=at + timedelta(seconds=30),
                    submitted_at=at + timedelta(seconds=21),
                    insync_at=at + timedelta(seconds=25),
                    verified_at=at + timedelta(seconds=30),
                )
            )
        elif request.state == State.REJECTED:
            decisions.append(
                Decision(
                    request=request,
                    actor_id=people[member(prefix, team, "identity")],
                    kind="reject",
                    role="identity",
                    plan_hash=request.plan_hash,
                    comment="the alternate identity provider is not ready",
                    channel="web",
                    created_at=at + timedelta(seconds=15),
                )
            )
    _insert(Decision, decisions)
    _insert(DnsChange, changes)


# --- the audit chain ------------------------------------------------------------------------


def _script(request_id: int, username: str) -> list[tuple[str, str, dict]]:
    """The events of one failover, as (actor, action, data), cycled through when seeding."""
    return [
        (username, "request.declared", {"to_target": "failover", "reason": "seeded"}),
        (username, "decision.approve", {"role": "availability", "channel": "api"}),
        (username, "decision.approve", {"role": "identity", "channel": "api"}),
        ("system", "request.state_changed", {"from": "pending", "to": "approved"}),
        ("system", "request.state_changed", {"from": "approved", "to": "executing"}),
        ("system", "dns.submitted", {"request": request_id, "status": "submitted"}),
        ("system", "dns.insync", {"request": request_id, "status": "insync"}),
        ("system", "dns.verified", {"request": request_id, "status": "verified"}),
        ("system", "request.state_changed", {"from": "executing", "to": "applied"}),
        ("system", "target.activated", {"target": "failover", "previous": "primary"}),
    ]


def seed_events(
    count: int, *, request_ids: Sequence[int] = (), batch: int = 5000, progress: Progress = _quiet
) -> int:
    """Append `count` events to the audit chain, about `request_ids` in turn (synthetic
    objects when none are given). Each batch locks the chain head, continues from it and
    moves it on in one transaction, so concurrent writers and `verify_audit` stay correct.
    Timestamps step by a microsecond from the head's newest event, so they stay in order."""
    subjects = cycle(request_ids or range(1, 1 + max(1, count // 10)))
    script: list = []
    done, moment = 0, None
    while done < count:
        size = min(batch, count - done)
        with transaction.atomic():
            seq, prev = lock_head()
            if moment is None:
                newest = AuditEvent.objects.filter(seq=seq).values_list("created_at")
                moment = max([timezone.now(), *(row[0] for row in newest)])
            rows = []
            for _ in range(size):
                if not script:
                    subject = next(subjects)
                    script = _script(subject, f"scale-{subject % 97}")
                actor, action, data = script.pop(0)
                seq += 1
                moment += timedelta(microseconds=1)
                rows.append(_event(seq, moment, actor, action, str(subject), data, prev))
                prev = rows[-1].hash
            _append(rows)
            if connection.vendor != "postgresql":  # there the append trigger moves the head
                ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
        done += size
        progress(f"{done}/{count} audit events")
    return done


def _append(rows: Sequence[AuditEvent]) -> None:
    """Insert events, with COPY on PostgreSQL: a million rows in seconds instead of minutes."""
    if connection.vendor != "postgresql":
        AuditEvent.objects.bulk_create(rows, batch_size=BATCH)
        return
    columns = [f.column for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    sql = f"COPY {AuditEvent._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.connection.cursor().copy(sql) as copy:
        for event in rows:
            values = [getattr(event, column) for column in columns]
            values[columns.index("data")] = json.dumps(event.data)
            copy.write_row(values)


def _event(seq, moment: datetime, actor, action, object_id, data, prev) -> AuditEvent:
    fields = {
        "seq": seq,
        "created_at": moment,
        "actor_id": None,
        "actor": actor,
        "action": action,
        "object_type": "failover.failoverrequest",
        "object_id": object_id,
        "data": data,
        "prev_hash": prev,
    }
    return AuditEvent(**fields, hash=event_hash(**fields))


def analyze() -> None:
    """Fresh planner statistics, as a database that grew to this size would have: without
    them the planner takes bulk-filled tables for nearly empty and picks the wrong plans."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def seed_scale(
    *,
    services: int,
    requests: int,
    events: int,
    prefix: str = "scale",
    team_size: int = 10,
    progress: Progress = _quiet,
) -> dict[str, int]:
    """The whole data set: services with their teams, requests over them, audit events
    about the requests."""
    seeded = seed_services(services, prefix=prefix, team_size=team_size, progress=progress)
    pending = seed_requests(requests, seeded, prefix=prefix, team_size=team_size, progress=progress)
    ids = list(
        FailoverRequest.objects.filter(service__slug__startswith=f"{prefix}-").values_list(
            "pk", flat=True
        )
    )
    appended = seed_events(events, request_ids=ids, progress=progress)
    analyze()
    progress("statistics updated (ANALYZE)")
    return {"services": len(seeded), "requests": requests, "pending": pending, "events": appended}
