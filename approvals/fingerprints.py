"""Whether anything anyone could be shown of a request has changed, asked in one query before
any of it is built (the request page costs dozens of queries and the templates, the API's
answer a dozen queries and the verdict): the key of the page's memos (failover/web/live.py)
and of the API's remembered answers (failover/api/presented.py).

What the page shows comes from: the request row; its decisions, readiness checks, DNS
changes, rollback checks and break-glass uses (rows, read here by count, newest id and the
columns that change in place); the audit timeline of the request and of its DNS changes (the
newest event id: the index on (object_type, object_id, seq) answers it); the service's
authority chain, which also says what the viewer may do (the grants on the service and the
active members of the groups holding them, by count and sum of row ids: ids only grow, so any
added or removed row moves one or the other); the attestations of the target's secrets; the
service's signals; the registry it was planned against (its targets, records, values and
thresholds, read whole: an edit behind the product's back moves it too) and its policy (in
the row read with the request); and the newest `config.*` event, for what else the audited
configuration doors change. The fingerprint is a hash of all
that. Time passing changes the page too (approvals and requests expire, checks fall late):
`approvals/freshness.fresh_until` says until when a render stays true, and the caller
re-renders past it. Read by request id alone, before anything else: a poll answered from it
costs the session, the user and this query.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model
from guardian.models import GroupObjectPermission, UserObjectPermission

from approvals.models import BreakGlass, BreakGlassReview, Decision, Policy
from approvals.readiness.models import ReadinessCheck, SecretAttestation
from audit.actions import CONFIG_ACTIONS
from audit.models import AuditEvent
from dnsproviders.models import DnsChange, RollbackCheck
from failover.models import (
    FailoverRequest,
    GovernedRecord,
    RecordValue,
    Service,
    Signal,
    Target,
    Threshold,
)


def _rows(table: str, where: str, *changing: str, join: str = "") -> str:
    """A set of rows whose ids only grow, as one text: count and sum of ids (any insert or
    delete moves one of them), then the MAX and COUNT of each column updated in place."""
    parts = ["COUNT(t.id)", "COALESCE(SUM(t.id), 0)"]
    for column in changing:
        parts += [f"COALESCE(CAST(MAX(t.{column}) AS TEXT), '')", f"COUNT(t.{column})"]
    text = " || ':' || ".join(f"CAST({p} AS TEXT)" for p in parts)
    return f"(SELECT {text} FROM {table} t {join} WHERE {where})"


def _contents(model: type[Model], where: str, join: str = "") -> str:
    """Rows edited in place with no column that moves (the registry: targets, records and
    their values, thresholds), as one text: every column of every row, in id order. Small
    sets (a service's registry), so reading them whole costs little; an edit made behind the
    product's back (a SQL UPDATE, a restore) moves it as much as an audited one."""
    columns = " || '|' || ".join(
        f"COALESCE(CAST(t.{connection.ops.quote_name(f.column)} AS TEXT), '')"
        for f in model._meta.concrete_fields
        if f.column
    )
    if connection.vendor == "postgresql":
        aggregate = f"STRING_AGG({columns}, ',' ORDER BY t.id)"
    else:  # SQLite: group_concat follows the order of the subquery's rows
        aggregate = "GROUP_CONCAT(x, ',')"
        inner = f"SELECT {columns} AS x FROM {_table(model)} t {join} WHERE {where} ORDER BY t.id"
        return f"(SELECT {aggregate} FROM ({inner}))"
    return f"(SELECT {aggregate} FROM {_table(model)} t {join} WHERE {where})"


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# The parts of the fingerprint, in the order `_parts()` reads them: one text column each.
PARTS = (
    "request_events",
    "change_events",
    "service_events",
    "config_events",
    "decisions",
    "readiness_checks",
    "changes",
    "rollback_checks",
    "break_glass",
    "break_glass_reviews",
    "attestations",
    "signals",
    "group_grants",
    "user_grants",
    "members",
    "targets",
    "records",
    "values",
    "thresholds",
)
REGISTRY = ("targets", "records", "values", "thresholds")


@cache
def _parts() -> list[str]:
    """Text columns (`PARTS`), correlated on the request row they are read with (written once
    per process: the ORM would rebuild ~20 subqueries per poll, costing more than running
    them). Every part is an index lookup. Parameters: `_params()`, in order. The object types
    and actions are written into the text, so that a prepared statement's generic plan (used
    after five runs) knows them as a custom plan does, and the configuration's can use the
    index of its events, whose predicate names them."""
    r = _table(FailoverRequest)
    request, service, to_target = f"{r}.id", f"{r}.service_id", f"{r}.to_target_id"
    request_key, service_key = f"CAST({request} AS TEXT)", f"CAST({service} AS TEXT)"
    audit, changes = _table(AuditEvent), _table(DnsChange)
    members = get_user_model().groups.through
    grants = _table(GroupObjectPermission)
    on_service = f"t.content_type_id = %s AND t.object_pk = {service_key}"
    parts = [
        f"(SELECT MAX(seq) FROM {audit}"
        f" WHERE object_type = {_text(FailoverRequest._meta.label_lower)}"
        f" AND object_id = {request_key})",
        # DNS change ids are integers, audit object ids text: compare on the change's side.
        f"(SELECT MAX(seq) FROM {audit} WHERE object_type = {_text(DnsChange._meta.label_lower)}"
        f" AND object_id IN (SELECT CAST(id AS TEXT) FROM {changes} WHERE request_id = {request}))",
        f"(SELECT MAX(seq) FROM {audit} WHERE object_type = {_text(Service._meta.label_lower)}"
        f" AND object_id = {service_key})",
        # The last entry of an index of the configuration events alone (audit/models.py): with
        # the index of every event, the planner walked back from the newest event, expecting a
        # configuration event among the first few, through every event since the last one.
        f"(SELECT MAX(seq) FROM {audit} WHERE action IN ("
        + ", ".join(_text(action) for action in CONFIG_ACTIONS)
        + "))",
        _rows(_table(Decision), f"t.request_id = {request}", "voided_at"),
        _rows(_table(ReadinessCheck), f"t.request_id = {request}", "lifted_at"),
        _rows(changes, f"t.request_id = {request}", "updated_at"),
        _rows(_table(RollbackCheck), f"t.request_id = {request}", "evaluated_at"),
        _rows(_table(BreakGlass), f"t.request_id = {request}", "review_closed_at"),
        _rows(
            _table(BreakGlassReview),
            f"g.request_id = {request}",
            join=f"JOIN {_table(BreakGlass)} g ON g.id = t.break_glass_id",
        ),
        _rows(_table(SecretAttestation), f"t.target_id = {to_target}"),
        _rows(_table(Signal), f"t.service_id = {service}", "resolved_at"),
        _rows(grants, on_service),
        # Direct grants of active people (a deactivated holder leaves the chain).
        _rows(
            _table(UserObjectPermission),
            f"u.is_active AND {on_service}",
            join=f"JOIN {_table(get_user_model())} u ON u.id = t.user_id",
        ),
        # The chain shows the active members of the groups holding grants on the service.
        _rows(
            _table(members),
            f"u.is_active AND t.group_id IN (SELECT t.group_id FROM {grants} t WHERE {on_service})",
            join=f"JOIN {_table(get_user_model())} u ON u.id = t.user_id",
        ),
        _contents(Target, f"t.service_id = {service}"),
        _contents(GovernedRecord, f"t.service_id = {service}"),
        _contents(
            RecordValue,
            f"r.service_id = {service}",
            join=f"JOIN {_table(GovernedRecord)} r ON r.id = t.record_id",
        ),
        _contents(Threshold, f"t.service_id = {service}"),
    ]
    assert len(parts) == len(PARTS)
    return [f"COALESCE(CAST({p} AS TEXT), '')" for p in parts]


def _text(value: str) -> str:
    """A constant of ours (a model label, an action) as an SQL literal."""
    if not re.fullmatch(r"[a-z0-9_.]+", value):
        raise ValueError(f"not a plain name: {value!r}")
    return f"'{value}'"


def _params() -> list:
    ct = ContentType.objects.get_for_model(Service).pk  # cached by Django after once
    return [
        ct,  # group grants
        ct,  # user grants
        ct,  # members of the groups with grants
    ]


def _columns(model: type[Model], alias: str, *leave_out: str) -> list[str]:
    return [
        f"{alias}.{connection.ops.quote_name(f.column)}"
        for f in model._meta.concrete_fields
        if f.name not in leave_out and f.column
    ]


@cache
def _query() -> str:
    """The request row (its plan by hash), its service, policy and targets, and `_parts()`."""
    r = _table(FailoverRequest)
    columns = [
        *_columns(FailoverRequest, r, "plan"),
        *_columns(Service, "s"),
        *_columns(Policy, "p"),
        *_columns(Target, "f"),
        *_columns(Target, "tt"),
        *_parts(),
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {r}"
        f" JOIN {_table(Service)} s ON s.id = {r}.service_id"
        f" LEFT JOIN {_table(Policy)} p ON p.service_id = s.id"
        f" JOIN {_table(Target)} f ON f.id = {r}.from_target_id"
        f" JOIN {_table(Target)} tt ON tt.id = {r}.to_target_id"
        f" WHERE {r}.id = %s"
    )


def request_fingerprint(pk: int) -> str | None:
    """What the request page of request `pk` shows, as a short hash, in one query (None: no
    such request). Nothing about who asks: a memo under it is the asker's own (the grants and
    memberships in it also decide whether they may see the request at all)."""
    return fingerprint_of(request_facts(pk))


def request_facts(pk: int) -> tuple | None:
    """The row the fingerprint hashes (None: no such request): two reads of it are equal
    exactly when their fingerprints are."""
    with connection.cursor() as cursor:
        cursor.execute(_query(), [*_params(), pk])
        return cursor.fetchone()


def with_appended(facts: tuple, pk: int, events: list | None) -> tuple | None:
    """Request `pk`'s facts, read just before `events` were appended to the audit chain, as
    a read after the append gives them: its newest event is the last of `events` on it.
    None when that cannot be told from the events alone: some are about anything else (a
    DNS change, the service, the configuration), or a nested block appends them later."""
    if events is None:
        return None
    label, key = FailoverRequest._meta.label_lower, str(pk)
    if any(e.object_type != label or e.object_id != key for e in events):
        return None
    if not events:
        return facts
    at = len(facts) - len(PARTS) + PARTS.index("request_events")
    return (*facts[:at], str(max(e.seq for e in events)), *facts[at + 1 :])


def with_decision(facts: tuple, pk: int, decision_id: int, events: list | None) -> tuple | None:
    """Request `pk`'s facts, read before a decision that wrote nothing but its own row
    (`decision_id`) and its one event on the request (`events`), as a read after them gives
    them when nothing else moved meanwhile. When anything else did, a read gives other facts:
    an answer kept under these is then never found, not wrong. None when `events` are not one
    event on the request (a transition, an execution: more was written)."""
    appended = with_appended(facts, pk, events)
    if appended is None or events is None or len(events) != 1:
        return None
    at = len(facts) - len(PARTS) + PARTS.index("decisions")
    count, total, voided = appended[at].split(":", 2)
    row = f"{int(count) + 1}:{int(total) + decision_id}:{voided}"
    return (*appended[:at], row, *appended[at + 1 :])


def part(facts: tuple, name: str) -> str:
    """One of the `PARTS` as `request_facts` read it."""
    return facts[len(facts) - len(PARTS) + PARTS.index(name)]


def counted(facts: tuple, name: str) -> int:
    """How many rows a part of sets of rows (decisions, changes, rollback checks, break-glass
    uses...) counted: 0 tells a caller it need not read them."""
    return int(part(facts, name).split(":", 1)[0])


def registry_key(facts: tuple) -> str:
    """The service's registry (targets, records, values, thresholds) as the facts read it
    whole, as a short hash: equal exactly when the registry is."""
    whole = "\x1f".join(part(facts, name) for name in REGISTRY)
    return hashlib.sha256(whole.encode()).hexdigest()[:16]


# What a decision itself moves: its request's row and decisions, the audit events of the
# request and of its DNS changes, and the changes an execution it starts queues.
MOVED_BY_A_DECISION = ("request_events", "change_events", "decisions", "changes")


def moved_only_by_a_decision(before: tuple, after: tuple) -> bool:
    """Whether two reads of a request's facts differ in nothing but what a decision on it
    moves: everything else the decision read (grants, readiness, signals, the registry...)
    stood still between them."""
    own = len([f for f in FailoverRequest._meta.concrete_fields if f.name != "plan" and f.column])
    rest = len(after) - len(PARTS)
    if len(before) != len(after) or before[own:rest] != after[own:rest]:
        return False
    return all(
        part(before, name) == part(after, name) for name in PARTS if name not in MOVED_BY_A_DECISION
    )


def fingerprint_of(facts: tuple | None) -> str | None:
    if facts is None:
        return None
    return hashlib.sha256("\x1f".join(str(v) for v in facts).encode()).hexdigest()[:16]
