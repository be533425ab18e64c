"""REST API v1: thin doors onto the services layer. Each view parses input, checks what the
caller may see, calls one service function and presents the result."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from guardian.models import GroupObjectPermission, UserObjectPermission
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response

from approvals.execution import execute_request, rollback_request
from approvals.fingerprints import request_facts
from approvals.services import decide
from approvals.timings import last_drills
from audit import export
from audit.jobs import start_verification
from audit.models import AuditEvent, Verification
from failover.api import presented
from failover.api import serializers as s
from failover.api.access import (
    audit_events_of_services,
    exported_rows_of_services,
    may_see_request,
    refuse_if_service_limited,
    token_service_ids,
    visible_service_ids,
    visible_services,
)
from failover.api.base import ApiViewMixin
from failover.api.one_request import assembled, decided, present, presentable
from failover.api.readiness import ReadinessActions
from failover.api.schema import errors
from failover.api.stepup import decision_preview, require_step_up
from failover.chain import authority_chain, authority_chains
from failover.models import FailoverRequest, GovernedRecord, Service
from failover.services import cancel_request, create_service, declare_request
from failover.states import State
from identity.stepup import carrying


class StrictPageSize:
    """A page_size that is not a whole number in range is a 400, not silently ignored."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # ASCII only: "²" is a digit to str.isdigit() but not to int().
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [f"a whole number from 1 to {self.max_page_size}"]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                }
        return parameters


class Pages(StrictPageSize, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param)
        # DRF reads an empty page as the first and "last" as the last: the schema says a number.
        if raw is not None and not (raw.isascii() and raw.isdigit()):
            raise exceptions.ValidationError({"page": ["a whole number from 1"]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                {"page": ["no such page; pages start at 1 and end at the last one"]}
            ) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class StrictCursor(StrictPageSize, CursorPagination):
    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                {"cursor": ["not a cursor this API gave out; follow the next/previous links"]}
            ) from None


class RequestCursor(StrictCursor):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")


class AuditCursor(StrictCursor):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-seq"


SERVICE_PREFETCH = (
    "targets",
    "thresholds",
    Prefetch(
        "records",
        GovernedRecord.objects.select_related("provider_account").prefetch_related(
            "values__target"
        ),
    ),
)


@extend_schema_view(
    list=extend_schema(
        summary="Services you hold some authority on",
        responses={200: s.ServiceOut(many=True), **errors(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="One service with targets, records, thresholds and chain",
        responses={200: s.ServiceOut, **errors(401, 404, 429)},
    ),
    create=extend_schema(
        summary="Register a service (needs the failover.add_service permission)",
        request=s.ServiceIn,
        responses={201: s.ServiceOut, **errors(400, 401, 403, 409, 422, 429)},
        examples=[
            OpenApiExample(
                "new service",
                request_only=True,
                value={
                    "slug": "payments",
                    "name": "Payments",
                    "governance_mode": "dual_approval",
                    "data_residency_region": "eu",
                    "customer_segments": ["retail"],
                },
            )
        ],
    ),
)
class ServiceViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    pagination_class = Pages
    serializer_class = s.ServiceOut
    token_scopes = {
        "list": "read",
        "retrieve": "read",
        "authority_chain": "read",
        "create": "configure",  # changes the registry
    }
    replay_object = "new_service"

    def get_queryset(self):
        return (
            Service.objects.filter(pk__in=visible_service_ids(self.request))
            .prefetch_related(*SERVICE_PREFETCH)
            .order_by("slug")
        )

    def _present(self, services):
        services = list(services)
        chains = authority_chains(services)
        mine = _authorities_by_service(self.request, services)
        drills = last_drills(services)
        for x in services:
            x.chain, x.your_authorities = chains[x.pk], sorted(mine.get(x.pk, set()))
            x.last_drill = drills[x.pk]
        return s.ServiceOut(services, many=True).data

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self._present(page))

    def retrieve(self, request, *args, **kwargs):
        return Response(self._present([self.get_object()])[0])

    def create(self, request, *args, **kwargs):
        refuse_if_service_limited(request, "registering a service")
        if not request.user.has_perm("failover.add_service"):
            raise exceptions.PermissionDenied("registering a service needs failover.add_service")
        data = _valid(s.ServiceIn, request)
        service = create_service(actor=request.user, **data)
        service = Service.objects.prefetch_related(*SERVICE_PREFETCH).get(pk=service.pk)
        return Response(self._present([service])[0], status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Who may declare, approve, veto, execute and roll back",
        responses={200: s.AuthorityChainOut, **errors(401, 404, 429)},
    )
    @action(detail=True, methods=["get"], url_path="authority-chain")
    def authority_chain(self, request, slug=None):
        return Response(s.AuthorityChainOut(authority_chain(self.get_object())).data)


def _authorities_by_service(request, services) -> dict[int, set[str]]:
    ct = ContentType.objects.get_for_model(Service)
    pks = [str(x.pk) for x in services]
    out: dict[int, set[str]] = {}
    rows = [
        *UserObjectPermission.objects.filter(
            user=request.user, content_type=ct, object_pk__in=pks
        ).values_list("object_pk", "permission__codename"),
        *GroupObjectPermission.objects.filter(
            group__user=request.user, content_type=ct, object_pk__in=pks
        ).values_list("object_pk", "permission__codename"),
    ]
    for pk, codename in rows:
        out.setdefault(int(pk), set()).add(codename)
    return out


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


REQUEST_FILTERS = [
    OpenApiParameter("service", str, description="service slug"),
    OpenApiParameter("state", str, enum=State.values),
    OpenApiParameter("incident_ref", str, description="exact incident reference"),
]
REQUEST_OK = {200: s.FailoverRequestOut}
DECLARE_EXAMPLE = OpenApiExample(
    "declare",
    request_only=True,
    value={
        "service": "checkout",
        "target": "failover",
        "reason": "eu-west-1 unreachable",
        "incident_ref": "INC-2041",
        "rollback_criteria": {"min_minutes_on_target": 30},
    },
)


@extend_schema_view(
    list=extend_schema(
        summary="Failover requests of the services you may see",
        description="Newest first, a cursor page at a time (follow `next`). Each request is "
        "the same object as its own read: plan, what is missing, what blocks, decisions and "
        "DNS changes. Filter by service, state or incident reference.",
        parameters=REQUEST_FILTERS,
        responses={200: s.FailoverRequestOut(many=True), **errors(400, 401, 429)},
    ),
    retrieve=extend_schema(
        summary="One request: plan, what is missing, what blocks",
        description="The request as it stands now: its plan and `plan_hash` (send it back "
        "when you decide, so you approve what you reviewed), the approvals still `missing`, "
        "what `blocked_by` it (vetoes, failing readiness checks, a registry changed since the "
        "plan), whether it `may_execute`, its decisions and its DNS changes.",
        responses={**REQUEST_OK, **errors(401, 404, 429)},
    ),
    create=extend_schema(
        summary="Declare a failover (needs `declare`)",
        description="Plans the change from the service's governed records to `target` (live "
        "records are read from the DNS providers: 503 when one cannot be read) and opens the "
        "request for approval. Another open request on the "
        "same service is a 409 naming it.",
        request=s.DeclareIn,
        examples=[DECLARE_EXAMPLE],
        responses={
            201: s.FailoverRequestOut,
            **errors(400, 401, 403, 404, 409, 422, 429, 503),
        },
    ),
)
class FailoverRequestViewSet(
    ReadinessActions,
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    pagination_class = RequestCursor
    serializer_class = s.FailoverRequestOut
    lookup_value_regex = "[0-9]+"
    token_scopes = {
        "list": "read",
        "retrieve": "read",
        "create": "declare",
        "decisions": "decide",
        "execute": "execute",
        "rollback": "rollback",
        "cancel": "cancel",
        **ReadinessActions.token_scopes,
    }
    replay_object = "request"

    def get_queryset(self):
        return presentable().filter(service__in=visible_service_ids(self.request))

    def _one(self, pk):
        return self._built(pk)[0]

    def _built(self, pk: int | str) -> tuple[dict, datetime]:
        """The request as presented now, and until when that stays true with no data change
        (404 for a reader who may not see it)."""
        self._must_see(pk)
        facts = request_facts(int(pk))
        if facts is None:
            raise exceptions.NotFound()
        return assembled(int(pk), facts)

    def list(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        params = request.query_params
        if slug := params.get("service"):
            queryset = queryset.filter(service__slug=slug)
        if (state := params.get("state")) is not None:
            if state not in State.values:
                raise exceptions.ValidationError({"state": [f"one of {', '.join(State.values)}"]})
            queryset = queryset.filter(state=state)
        if ref := params.get("incident_ref"):
            queryset = queryset.filter(incident_ref=ref)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(present(page or []))

    def retrieve(self, request, *args, **kwargs):
        pk = int(kwargs["pk"])
        return Response(
            presented.read(
                request,
                pk,
                build=lambda facts: assembled(pk, facts),
                visible=lambda: may_see_request(request, pk),
            )
        )

    def create(self, request, *args, **kwargs):
        data = _valid(s.DeclareIn, request)
        service = Service.objects.filter(
            slug=data.pop("service"), pk__in=visible_service_ids(request)
        ).first()
        if service is None:
            raise exceptions.NotFound("no such service among those you hold authority on")
        created = declare_request(actor=request.user, service=service, channel="api", **data)
        return Response(self._one(created.pk), status=status.HTTP_201_CREATED)

    def _visible_query(self, pk: int | str) -> QuerySet[FailoverRequest]:
        return FailoverRequest.objects.filter(pk=pk, service__in=visible_services(self.request))

    def _visible(self, pk) -> FailoverRequest:
        return get_object_or_404(self._visible_query(pk))

    def _must_see(self, pk: int | str) -> None:
        """404 unless the caller may see request `pk` (the row itself is not read)."""
        if not may_see_request(self.request, pk):
            raise exceptions.NotFound()

    @extend_schema(
        summary="Approve, veto, lift a veto, sign off or reject",
        description="Records your decision on the request and answers the request as it now "
        "stands (201). An approval or sign-off names its `role` and the `plan_hash` you "
        "reviewed: a stale hash is a 409 with the current one. The last approval of a request "
        "that executes on approval starts the change. Acts that move or unblock traffic need "
        "a step-up: `step_up` in the body from a browser session, a recently stepped-up "
        "token otherwise (403 `step_up_stale` says how to renew). With `?preview=true` "
        "nothing is recorded: the answer (200) says whether confirming would execute now and "
        "which records would change.",
        request=s.DecisionIn,
        parameters=[
            OpenApiParameter(
                "preview",
                str,
                enum=["true", "1"],
                description="only say what confirming would do (200); record nothing",
            )
        ],
        responses={
            200: s.DecisionPreviewOut,
            201: s.FailoverRequestOut,
            **errors(400, 401, 403, 404, 409, 422, 429),
        },
        examples=[
            OpenApiExample(
                "approve",
                request_only=True,
                value={
                    "kind": "approve",
                    "role": "availability",
                    "plan_hash": "9f2c…",
                    "comment": "latency on us-east-1 checked",
                },
            ),
            OpenApiExample(
                "veto",
                request_only=True,
                value={"kind": "veto", "comment": "the US identity provider rejects EU sessions"},
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def decisions(self, request, pk=None):
        if request.query_params.get("preview", "").lower() in ("1", "true"):
            self._must_see(pk)
            data = _valid(s.DecisionIn, request)
            data.pop("password", None), data.pop("step_up", None)
            return Response(s.DecisionPreviewOut(decision_preview(int(pk), data)).data)
        # Read first, before the decision reads anything: what its answer is remembered under.
        seen = presented.facts_seen_by(
            request, int(pk), visible=lambda: may_see_request(request, pk)
        )
        data = _valid(s.DecisionIn, request)
        proof = require_step_up(
            request, data["kind"], data, target=f"request:{pk}", plan_hash=data["plan_hash"]
        )
        with carrying(proof):
            outcome = decide(
                actor=request.user,
                request_id=int(pk),
                channel="api",
                step_up=proof,
                watched_from=seen,
                **data,
            )
        # As the decision left it (one verdict, from its lock), remembered for the readers the
        # act wakes up when nothing else moved meanwhile; a closed request is assembled after
        # the commit like any read.
        found = decided(outcome)
        if found is None:
            answer = presented.after_write(request, int(pk), build=lambda f: assembled(int(pk), f))
        else:
            answer, fingerprint, until = found
            if fingerprint is not None:
                presented.keep(request, int(pk), fingerprint, answer, until)
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Execute an executable request (needs `execute`, or alone while pre-approved)",
        description="Starts the DNS change of an approved request whose plan still holds: the "
        "answer is the request, `executing`, its changes queued for the provider. 409 when "
        "the request is in another state (`state`) or something blocks it (`reasons`). A "
        "token needs a recent step-up of its person.",
        request=None,
        responses={**REQUEST_OK, **errors(400, 401, 403, 404, 409, 422, 429)},
    )
    @action(detail=True, methods=["post"])
    def execute(self, request, pk=None):
        obj = self._visible(pk)
        proof = require_step_up(request, "execute", target=f"request:{pk}", plan_hash=obj.plan_hash)
        with carrying(proof):
            execute_request(actor=request.user, request_id=int(pk), channel="api")
        return Response(self._one(pk))

    @extend_schema(
        summary="Roll back an applied failover (needs `rollback`)",
        description="Starts the reverse change of an applied request, with your `reason`: the "
        "answer is the request, `rolling_back`. 409 when it is not applied. A token needs a "
        "recent step-up of its person.",
        request=s.ReasonIn,
        responses={**REQUEST_OK, **errors(400, 401, 403, 404, 409, 422, 429)},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        self._must_see(pk)
        data = _valid(s.ReasonIn, request)
        proof = require_step_up(request, "rollback", data, target=f"request:{pk}")
        with carrying(proof):
            rollback_request(actor=request.user, request_id=int(pk), channel="api", **data)
        return Response(self._one(pk))

    @extend_schema(
        summary="Cancel an open request (its requester or a `declare` holder)",
        description="Ends a request that has not executed, with an optional `reason`; the "
        "answer is the request, `cancelled`. 409 once it executed or ended.",
        request=s.ReasonIn,
        responses={**REQUEST_OK, **errors(400, 401, 403, 404, 409, 422, 429)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        self._must_see(pk)
        data = _valid(s.ReasonIn, request)
        data.pop("password", None), data.pop("step_up", None)  # cancelling moves nothing
        cancel_request(actor=request.user, request_id=int(pk), **data)
        return Response(self._one(pk))


def _moment(raw: str):
    """An aware UTC date-time, or None. The rows stream after the response has started, so
    anything the database could refuse (odd offsets, far years) is refused here instead."""
    try:
        moment = parse_datetime(raw) if len(raw) < 64 else None
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return moment if 1900 <= moment.year <= 9999 else None


AUDIT_FILTERS = [
    OpenApiParameter("action", str),
    OpenApiParameter("actor", str),
    OpenApiParameter("object_type", str),
    OpenApiParameter("object_id", str),
]


@extend_schema_view(
    list=extend_schema(
        summary="The audit log, newest first (needs audit.view_auditevent)",
        parameters=AUDIT_FILTERS,
        responses={200: s.AuditEventOut(many=True), **errors(400, 401, 403, 429)},
    )
)
class AuditEventViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    pagination_class = AuditCursor
    serializer_class = s.AuditEventOut
    token_scopes = {"list": "audit", "export": "audit", "verify": "audit"}
    replay_object = "audit"  # an Idempotency-Key replay re-checks the audit permission

    def _check(self, request):
        if not request.user.has_perm("audit.view_auditevent"):
            raise exceptions.PermissionDenied("reading the audit log needs audit.view_auditevent")

    def get_queryset(self):
        queryset = AuditEvent.objects.all()
        for field in ("action", "actor", "object_type", "object_id"):
            if value := self.request.query_params.get(field):
                queryset = queryset.filter(**{field: value})
        if (scoped := token_service_ids(self.request)) is not None:
            queryset = queryset.filter(audit_events_of_services(scoped))
        return queryset

    def list(self, request, *args, **kwargs):
        self._check(request)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.AuditEventOut(page, many=True).data)

    @extend_schema(
        summary="Export events with their chain hashes (JSON Lines or CSV), for offline review",
        description="The last record is a trailer (count, last seq, last hash, complete); a "
        "stream that fails midway ends with an error trailer instead: see audit/export.py.",
        parameters=[
            OpenApiParameter("as", str, enum=["jsonl", "csv"], description="default jsonl"),
            OpenApiParameter("request", int, description="only this failover request's events"),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="inclusive"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="exclusive"),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            **errors(400, 401, 403, 429),
        },
    )
    @action(detail=False, methods=["get"])
    def export(self, request):
        self._check(request)
        params = request.query_params
        kind = params.get("as", "jsonl")  # not "format": DRF reserves it for renderers
        if kind not in ("jsonl", "csv"):
            raise exceptions.ValidationError({"as": ["jsonl or csv"]})
        scope, problems = {}, {}
        if (raw := params.get("request")) is not None:
            if not raw.isdigit():
                problems["request"] = ["a request id"]
            scope = {"object_type": "failover.failoverrequest", "object_ids": [raw]}
        for name in ("since", "until"):
            if (raw := params.get(name)) is not None:
                scope[name] = _moment(raw)
                if scope[name] is None:
                    problems[name] = ["an ISO 8601 date-time between the years 1900 and 9999"]
        if problems:
            raise exceptions.ValidationError(problems)
        rows = export.events(**scope)
        if (scoped := token_service_ids(request)) is not None:
            rows = exported_rows_of_services(rows, scoped)
        body, content_type = (
            (export.jsonl(rows), "application/x-ndjson")
            if kind == "jsonl"
            else (export.csv_lines(rows), "text/csv")
        )
        response = StreamingHttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="audit.{kind}"'
        return response

    @extend_schema(
        methods=["POST"],
        summary="Start verifying the whole chain in the background (202 and a job to poll)",
        description="Verifying millions of events takes longer than a request may, so a worker "
        "does it: the answer is the job (also in the `Location` header), to poll at its `url` "
        "until `state` is `done` (the verdict is in `ok`, `first_broken_seq` and `reason`) or "
        "`failed` (the job could not finish: `reason` says why). While a verification is "
        "queued or running, starting another returns that one.",
        request=None,
        responses={202: s.AuditVerificationOut, **errors(400, 401, 403, 404, 409, 422, 429)},
        parameters=[
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                response=[202],
                description="the job's URL, to poll",
            )
        ],
    )
    @extend_schema(
        methods=["GET"],
        summary="The latest finished verification of the whole chain (POST to start one)",
        description="Verifying no longer happens in this request: this answers with the newest "
        "verification that finished (`state` done), and a `hint` saying how old it is and "
        "how to verify the chain as it is now (POST to this path). 404 when none has "
        "finished yet.",
        responses={200: s.AuditVerifyLatestOut, **errors(401, 403, 404, 429)},
    )
    @action(detail=False, methods=["get", "post"])
    def verify(self, request):
        self._check(request)
        refuse_if_service_limited(request, "verifying the whole audit chain")
        if request.method == "POST":
            _valid(s.NothingIn, request)
            job = start_verification(request.user)
            body = s.AuditVerificationOut(job, context={"request": request}).data
            return Response(
                body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
            )
        latest = Verification.objects.filter(state=Verification.State.DONE)
        job = latest.order_by("-finished_at", "-pk").first()
        if job is None:
            raise exceptions.NotFound(
                "no verification of the audit chain has finished yet: "
                "POST /api/v1/audit-events/verify/ starts one and answers with a job to poll"
            )
        return Response(s.AuditVerifyLatestOut(job, context={"request": request}).data)


@extend_schema_view(
    retrieve=extend_schema(
        summary="One verification of the audit chain: its state, progress and verdict",
        responses={200: s.AuditVerificationOut, **errors(401, 403, 404, 429)},
    )
)
class AuditVerificationViewSet(ApiViewMixin, viewsets.GenericViewSet):
    """Verifications of the whole audit chain, started with POST /api/v1/audit-events/verify/.
    Needs audit.view_auditevent, like the audit log; refused to a token limited to services
    (the chain spans them all)."""

    queryset = Verification.objects.all()
    lookup_value_regex = "[0-9]+"
    token_scopes = {"retrieve": "audit"}

    def retrieve(self, request, pk=None):
        if not request.user.has_perm("audit.view_auditevent"):
            raise exceptions.PermissionDenied("reading the audit log needs audit.view_auditevent")
        refuse_if_service_limited(request, "verifying the whole audit chain")
        job = Verification.objects.filter(pk=pk).first()
        if job is None:
            raise exceptions.NotFound("no such verification")
        return Response(s.AuditVerificationOut(job, context={"request": request}).data)
