"""Who may see and do what through the API: services where the caller holds some authority,
narrowed by the token's scopes. Everything else is 404, so existence does not leak.

A token's scopes are two limits: the actions it may do (every route names the one it needs,
`token_scopes` on the view; a route that names none refuses every token) and the services it
may see (everywhere: lists, one-row reads, the audit log, exports, reports, break-glass,
readiness). A session caller has no such limits beyond the user's own authority."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import CharField, Exists, Q, QuerySet
from django.db.models.functions import Cast
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from approvals.breakglass import uses_for
from approvals.models import ApiToken
from approvals.readiness.models import (
    READINESS_CHECK_TYPES,
    SECRET_ATTESTATION_TYPES,
    ReadinessCheck,
    SecretAttestation,
)
from audit.chain import COLUMNS
from dnsproviders.models import DnsChange
from failover.chain import service_ct_id, service_pks_with_authority, services_with_authority
from failover.models import FailoverRequest, Service, Signal, Target
from failover.notify.models import ENDPOINT_TYPES, NotificationEndpoint
from failover.precompiled import LARGEST_ID, compiled


def token_of(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def token_service_ids(request) -> set[int] | None:
    """The services the caller's token is limited to, or None when it is not limited (a
    session, or a token scoped to no service)."""
    token = token_of(request)
    if token is None:
        return None
    cached = getattr(request, "_token_service_ids", False)
    if cached is False:
        cached = set(token.services.values_list("pk", flat=True)) or None
        request._token_service_ids = cached
    return cached


def visible_service_ids(request) -> set[int]:
    cached = getattr(request, "_visible_service_ids", None)
    if cached is not None:
        return cached
    ids = services_with_authority(request.user)
    scoped = token_service_ids(request)
    if scoped is not None:
        ids &= scoped
    request._visible_service_ids = ids
    return ids


def visible_services(request) -> QuerySet:
    """The visible services' primary keys as a subquery, for reading one row: its query
    checks visibility in the same round trip (a token scoped to no service is scoped to all
    of the user's). Lists filter by `visible_service_ids`."""
    return _visible_services(request.user, token_of(request))


def _visible_services(user: Any, token: ApiToken | None) -> QuerySet:
    pks = service_pks_with_authority(user)
    if token is None:
        return pks
    scoped = ApiToken.services.through.objects.filter(apitoken=token).values("service_id")
    return pks.filter(Q(pk__in=scoped) | ~Exists(scoped))


def may_see_request(request: Any, pk: int | str) -> bool:
    """Whether the caller may see failover request `pk`, by `visible_services`' rule: one
    query, its SQL written once per process (failover/precompiled.py)."""
    user, token = request.user, token_of(request)
    if not (user and user.is_authenticated and user.is_active):
        return False
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return False
    if not 0 < pk <= LARGEST_ID:
        return False

    def build(pk: int, user: int, token: int | None = None) -> QuerySet[FailoverRequest]:
        person = get_user_model()(pk=user, is_active=True)
        scoped = ApiToken(pk=token) if token is not None else None
        return FailoverRequest.objects.filter(pk=pk, service__in=_visible_services(person, scoped))

    shape = ("request-visible", token is not None, service_ct_id())
    if token is None:
        query = compiled(shape, build, "pk", "user", exists=True)
        return bool(query.rows(pk=pk, user=user.pk))
    query = compiled(shape, build, "pk", "user", "token", exists=True)
    return bool(query.rows(pk=pk, user=user.pk, token=token.pk))


def require_action(request, action: str) -> None:
    """A scoped token may do only the actions it names."""
    token = token_of(request)
    if token is not None and token.actions and action not in token.actions:
        raise exceptions.PermissionDenied(
            f"this token is not scoped for '{action}' (it allows {', '.join(token.actions)})",
            code="token_scope",
        )


def route_scope(view, method: str) -> str | None:
    """The token action a view's handler needs: `token_scopes` keyed by the viewset action
    (or the HTTP method of a plain view). Describing a route (OPTIONS) is reading it."""
    key = getattr(view, "action", None) or method.lower()
    if key in ("metadata", "options"):
        return "read"
    if key == "head":
        key = "get"
    return getattr(view, "token_scopes", {}).get(key)


class TokenScope(BasePermission):
    """Every API route needs the token action that says what it does; a route that declares
    none refuses tokens, so a new route is closed until someone decides its scope."""

    def has_permission(self, request, view) -> bool:
        if token_of(request) is None:
            return True
        needed = route_scope(view, request.method)
        if needed is None:
            raise exceptions.PermissionDenied(
                "this route declares no token scope, so no token may use it",
                code="token_scope",
            )
        require_action(request, needed)
        return True


def refuse_if_service_limited(request, what: str) -> None:
    """Acts that reach beyond any one service (registering a new one, verifying the whole
    audit chain) are refused to a token limited to services."""
    if token_service_ids(request) is not None:
        raise exceptions.PermissionDenied(
            f"{what} reaches beyond this token's services; use a token not limited to services",
            code="token_scope",
        )


def _objects_of_services(ids) -> dict[str, QuerySet]:
    """Audit object type -> the rows of that type that belong to these services. Events about
    anything else (integrations, tokens, users, groups, global endpoints) belong to no one
    service and are left out."""
    return {
        "failover.service": Service.objects.filter(pk__in=ids),
        "failover.failoverrequest": FailoverRequest.objects.filter(service__in=ids),
        "failover.target": Target.objects.filter(service__in=ids),
        "failover.signal": Signal.objects.filter(service__in=ids),
        **dict.fromkeys(ENDPOINT_TYPES, NotificationEndpoint.objects.filter(service__in=ids)),
        "dnsproviders.dnschange": DnsChange.objects.filter(request__service__in=ids),
        **dict.fromkeys(
            READINESS_CHECK_TYPES, ReadinessCheck.objects.filter(request__service__in=ids)
        ),
        **dict.fromkeys(
            SECRET_ATTESTATION_TYPES, SecretAttestation.objects.filter(target__service__in=ids)
        ),
    }


def audit_events_of_services(ids) -> Q:
    """The audit events about these services' objects, as a filter."""
    condition = Q(pk__in=[])
    for object_type, rows in _objects_of_services(ids).items():
        keys = rows.annotate(key=Cast("pk", CharField())).values("key")
        condition |= Q(object_type=object_type, object_id__in=keys)
    return condition


def exported_rows_of_services(rows, ids) -> Iterator[tuple]:
    """The same events as `audit_events_of_services`, taken from a stream of exported rows
    (audit.export.events): the export keeps its own query, this keeps the rule."""
    keys = {
        (object_type, str(pk))
        for object_type, found in _objects_of_services(ids).items()
        for pk in found.values_list("pk", flat=True)
    }
    at_type, at_id = COLUMNS.index("object_type"), COLUMNS.index("object_id")
    return (row for row in rows if (row[at_type], row[at_id]) in keys)


def replay_visible(request, view, record) -> bool:
    """Whether the caller may still see what a stored response is about, so a replay never
    hands out what the caller could not get now (an authority removed since, say). The view
    names the object its POSTs act on: `replay_object` = "request" (the URL's or the new
    request's id), "break_glass" (the URL's use), "new_service" (registering needs the
    permission still) or "audit" (a verification job: reading the audit log still). A view
    that names nothing replays only refusals that name nothing."""
    data = record.response if isinstance(record.response, dict) else {}
    pk = view.kwargs.get("pk")
    kind = view.replay_object
    if kind == "request":
        pk = pk if pk is not None else data.get("id")
        if pk is None:
            return record.status_code >= 400  # a refused declaration: nothing was made
        return FailoverRequest.objects.filter(pk=pk, service__in=visible_services(request)).exists()
    if kind == "break_glass":
        uses = uses_for(request.user, service_ids=visible_service_ids(request))
        return uses.filter(pk=pk).exists()
    if kind == "new_service":
        if record.status_code >= 400:
            return True  # a refused registration names nothing the caller did not send
        return request.user.has_perm("failover.add_service") and token_service_ids(request) is None
    if kind == "audit":  # a verification job: the same right as starting one
        return request.user.has_perm("audit.view_auditevent") and token_service_ids(request) is None
    return pk is None and record.status_code >= 400
