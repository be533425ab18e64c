"""Reading a service's authority chain from django-guardian's object permissions.

Superuser status deliberately confers nothing here: only explicit grants on the service
count, so an administrator cannot approve a failover by accident of being an administrator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

from approvals.models import ServiceAccount
from failover.authorities import AUTHORITIES, HUMAN_AUTHORITIES, REQUIRED_AUTHORITIES
from failover.models import Service
from failover.precompiled import compiled


@dataclass(frozen=True)
class ChainEntry:
    authority: str
    label: str
    required: bool
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group name, active member usernames)
    users: tuple[str, ...]  # direct grants to active users

    @property
    def holders(self) -> tuple[str, ...]:
        names = set(self.users)
        for _, members in self.groups:
            names.update(members)
        return tuple(sorted(names))


@dataclass(frozen=True)
class AuthorityChain:
    service: str
    entries: tuple[ChainEntry, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(e.authority for e in self.entries if e.required and not e.holders)

    @property
    def complete(self) -> bool:
        return not self.missing

    def entry(self, authority: str) -> ChainEntry:
        return next(e for e in self.entries if e.authority == authority)


def _service_ct() -> ContentType:
    return ContentType.objects.get_for_model(Service)


def service_ct_id() -> int:
    """The id the permission tables know services by: part of a compiled query's shape
    (failover/precompiled.py), as it is written into its SQL's parameters."""
    return _service_ct().pk


def authority_chain(service: Service) -> AuthorityChain:
    return authority_chains([service])[service.pk]


def authority_chains(services) -> dict[int, AuthorityChain]:
    """The chains of many services in three queries, whatever their number."""
    services = list(services)
    if not services:
        return {}
    ct = _service_ct()
    pks = [str(s.pk) for s in services]
    by_group: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    group_ids: dict[str, int] = {}
    for object_pk, codename, group_id, group_name in GroupObjectPermission.objects.filter(
        content_type=ct, object_pk__in=pks
    ).values_list("object_pk", "permission__codename", "group_id", "group__name"):
        by_group[object_pk][codename].add(group_name)
        group_ids[group_name] = group_id
    members: dict[int, set[str]] = defaultdict(set)
    machines: set[str] = set()
    if group_ids:
        for group_id, username, machine in (
            get_user_model()
            .objects.filter(groups__in=group_ids.values(), is_active=True)
            .values_list("groups", "username", "service_account")
        ):
            members[group_id].add(username)
            if machine is not None:
                machines.add(username)
    by_user: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for object_pk, codename, username in (
        UserObjectPermission.objects.filter(
            content_type=ct, object_pk__in=pks, user__is_active=True
        )
        .filter(_human_only("user__"))
        .values_list("object_pk", "permission__codename", "user__username")
    ):
        by_user[object_pk][codename].add(username)
    chains = {}
    for service in services:
        key = str(service.pk)
        entries = tuple(
            ChainEntry(
                authority=codename,
                label=label,
                required=codename in REQUIRED_AUTHORITIES,
                groups=tuple(
                    (
                        name,
                        tuple(
                            sorted(
                                m
                                for m in members[group_ids[name]]
                                if codename not in HUMAN_AUTHORITIES or m not in machines
                            )
                        ),
                    )
                    for name in sorted(by_group[key][codename])
                ),
                users=tuple(sorted(by_user[key][codename])),
            )
            for codename, label in AUTHORITIES.items()
        )
        chains[service.pk] = AuthorityChain(service=service.slug, entries=entries)
    return chains


def missing_authorities(services) -> dict[int, tuple[str, ...]]:
    """What each service's chain lacks: the required authorities nobody active holds, directly
    or through a group. One query, where the whole chains take three (the verdict needs only
    this)."""
    return chain_now(services, ())[0]


def _grants(user):
    """The user's object permissions on services, direct and through groups (two querysets),
    or None for a user who holds nothing whatever the grants say."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    ct = _service_ct()
    direct = UserObjectPermission.objects.filter(user=user, content_type=ct)
    via_groups = GroupObjectPermission.objects.filter(group__user=user, content_type=ct)
    return direct, via_groups


def services_with_authority(user) -> set[int]:
    """Primary keys of the services on which the user holds any authority (one query, on the
    permission tables' user and group indexes)."""
    grants = _grants(user)
    if grants is None:
        return set()
    direct, via_groups = (g.values_list("object_pk", flat=True) for g in grants)
    return {int(pk) for pk in direct.union(via_groups)}


def service_pks_with_authority(user) -> QuerySet:
    """The same as a subquery of service primary keys, for a caller's query of one row to
    filter by (a detail read checks visibility inside its one query). Not for lists: the
    planner cannot turn its OR of subqueries into an index lookup."""
    grants = _grants(user)
    if grants is None:
        return Service.objects.none().values_list("pk", flat=True)
    as_int = Cast("object_pk", output_field=IntegerField())
    direct, via_groups = (g.values(pk=as_int) for g in grants)
    return Service.objects.filter(Q(pk__in=direct) | Q(pk__in=via_groups)).values_list(
        "pk", flat=True
    )


def authorities_of(user, service: Service) -> set[str]:
    """The authorities a user holds on one service, directly or through a group."""
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    ct = _service_ct()
    object_pk = str(service.pk)
    direct = UserObjectPermission.objects.filter(
        user=user, content_type=ct, object_pk=object_pk
    ).values_list("permission__codename", flat=True)
    via_groups = GroupObjectPermission.objects.filter(
        group__user=user, content_type=ct, object_pk=object_pk
    ).values_list("permission__codename", flat=True)
    held = set(direct.union(via_groups))
    if held & HUMAN_AUTHORITIES and hasattr(user, "service_account"):
        held -= HUMAN_AUTHORITIES  # a service account never holds a human act
    return held


def holds(user, service: Service, authority: str) -> bool:
    return authority in authorities_of(user, service)


MACHINE = "__service_account__"


def _human_only(prefix: str) -> Q:
    """A grant of a human authority counts only for a person, never a service account."""
    return ~Q(permission__codename__in=HUMAN_AUTHORITIES) | Q(
        **{f"{prefix}service_account__isnull": True}
    )


def _counting_grants(pks, *, users=None, codenames=None) -> tuple[QuerySet, QuerySet]:
    """The grants on these services that count now, direct and through groups: to active
    users, and a human authority never to a service account. Each side is one filter() call:
    across a group's members, chained calls would each join a member of their own."""

    def conditions(prefix: str, user_field: str) -> Q:
        q = Q(**{f"{prefix}is_active": True}) & _human_only(prefix)
        if users is not None:
            q &= Q(**{f"{user_field}__in": users})
        if codenames is not None:
            q &= Q(permission__codename__in=codenames)
        return q

    ct = _service_ct()
    direct = UserObjectPermission.objects.filter(
        conditions("user__", "user_id"), content_type=ct, object_pk__in=pks
    )
    via_groups = GroupObjectPermission.objects.filter(
        conditions("group__user__", "group__user"), content_type=ct, object_pk__in=pks
    )
    return direct, via_groups


def chain_now(
    services: Iterable[Service], user_ids: Iterable[int | None]
) -> tuple[dict[int, tuple[str, ...]], dict[tuple[int, int], set[str]], set[int]]:
    """`missing_authorities` of the services and `holdings` of these users on them, in one
    query: every grant that counts on the services now (what a verdict weighs, read once)."""
    services = list(services)
    pks = [str(s.pk) for s in services]
    if not pks:
        return {}, {}, set()
    users = {u for u in user_ids if u is not None}
    on_service: dict[str, set[str]] = defaultdict(set)
    held: dict[tuple[int, int], set[str]] = defaultdict(set)
    machine_ids: set[int] = set()
    for object_pk, user_id, codename in _chain_rows(pks, sorted(users)):
        if codename == MACHINE:
            machine_ids.add(user_id)
            continue
        on_service[object_pk].add(codename)
        if user_id in users:
            held[(int(object_pk), user_id)].add(codename)
    required_in_order = [a for a in AUTHORITIES if a in REQUIRED_AUTHORITIES]
    missing = {
        s.pk: tuple(a for a in required_in_order if a not in on_service[str(s.pk)])
        for s in services
    }
    return missing, held, machine_ids


# Up to this many services and users, the chain's query is written once per shape
# (failover/precompiled.py): a decision asks it for one service and a few people.
COMPILED_UP_TO = (4, 16)


def _chain_query(pks: list[str], users: list[int]) -> QuerySet:
    """Every counting grant on the services, and which of the users are service accounts."""
    direct, via_groups = _counting_grants(pks)
    rows = [
        direct.values_list("object_pk", "user_id", "permission__codename"),
        via_groups.values_list("object_pk", "group__user", "permission__codename"),
    ]
    if users:
        rows.append(
            ServiceAccount.objects.filter(user_id__in=users).values_list(
                Value("", output_field=CharField()),
                "user_id",
                Value(MACHINE, output_field=CharField()),
            )
        )
    return rows[0].union(*rows[1:])


def _chain_rows(pks: list[str], users: list[int]) -> list[tuple]:
    if len(pks) > COMPILED_UP_TO[0] or len(users) > COMPILED_UP_TO[1]:
        return list(_chain_query(pks, users))
    names = [f"s{i}" for i in range(len(pks))] + [f"u{i}" for i in range(len(users))]

    def build(**marks: int) -> QuerySet:
        return _chain_query(
            [str(marks[f"s{i}"]) for i in range(len(pks))],
            [marks[f"u{i}"] for i in range(len(users))],
        )

    query = compiled(("chain", len(pks), len(users), service_ct_id()), build, *names)
    return query.rows(**dict(zip(names, [*pks, *users], strict=True)))


def holdings(service_ids, user_ids) -> tuple[dict[tuple[int, int], set[str]], set[int]]:
    """What each of these users holds on each of these services now, directly or through a
    group (active users only; a service account holds no human authority), and which of the
    users are service accounts. One query, whatever the numbers."""
    user_ids = {u for u in user_ids if u is not None}
    if not user_ids or not service_ids:
        return {}, set()
    _, held, machines = chain_now([Service(pk=pk) for pk in service_ids], user_ids)
    return held, machines
