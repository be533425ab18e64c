"""REST doors onto break-glass: use it on a request, review a use, list the uses.

Break-glass is a human act: the services layer refuses service accounts (and so their tokens)
with a 403 that says so.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.breakglass import MAX_TEXT, break_glass, record_review, uses_for
from failover.api.access import visible_service_ids
from failover.api.base import ApiViewMixin
from failover.api.schema import errors
from failover.api.serializers import Password, StepUpIn, StrictInput, Text
from failover.api.stepup import require_step_up
from failover.api.views import Pages
from failover.models import FailoverRequest
from identity.stepup import carrying


class BreakGlassIn(StrictInput):
    password = Password()
    step_up = StepUpIn()
    justification = Text(
        max_length=MAX_TEXT, help_text="why the normal approvals cannot be waited for"
    )
    veto_justification = Text(
        max_length=MAX_TEXT,
        required=False,
        allow_blank=True,
        default="",
        help_text="needed while a veto stands: names each vetoer (or failing check kind)",
    )
    plan_hash = Text(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="the plan you reviewed; refused with 409 if it changed",
    )


class ReviewIn(StrictInput):
    comment = Text(max_length=MAX_TEXT)


class OverriddenOut(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class ReviewOut(serializers.Serializer):
    reviewer = serializers.CharField(source="reviewer.username")
    holds_approve_identity = serializers.BooleanField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class BreakGlassOut(serializers.Serializer):
    id = serializers.IntegerField()
    request = serializers.IntegerField(source="request_id")
    request_state = serializers.CharField(source="request.state")
    service = serializers.CharField(source="request.service.slug")
    actor = serializers.CharField(source="actor.username")
    justification = serializers.CharField()
    veto_justification = serializers.CharField()
    overridden = OverriddenOut(many=True)
    skipped_roles = serializers.ListField(child=serializers.CharField())
    plan_hash = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    review_open = serializers.BooleanField()
    review_closed_at = serializers.DateTimeField(allow_null=True)
    reviews = ReviewOut(many=True)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _visible_uses(request):
    return uses_for(request.user, service_ids=visible_service_ids(request))


class RequestBreakGlassView(ApiViewMixin, APIView):
    token_scopes = {"post": "execute"}
    replay_object = "request"

    @extend_schema(
        summary="Execute without the missing approvals (needs `break_glass`; people only)",
        description="Overrides standing vetoes only when `veto_justification` names each one. "
        "The use is announced, flagged in the audit log and opened for review.",
        request=BreakGlassIn,
        responses={201: BreakGlassOut, **errors(400, 401, 403, 404, 409, 422, 429)},
        examples=[
            OpenApiExample(
                "break glass",
                request_only=True,
                value={
                    "justification": "identity lead unreachable, EU checkout down for 20 min",
                    "veto_justification": "vetoer's concern (US IdP sessions) accepted by IC",
                },
            )
        ],
    )
    def post(self, request, pk: int):
        get_object_or_404(
            FailoverRequest.objects.filter(service__in=visible_service_ids(request)), pk=pk
        )
        data = _valid(BreakGlassIn, request)
        proof = require_step_up(
            request,
            "break_glass",
            data,
            target=f"request:{pk}",
            plan_hash=data.get("plan_hash") or "",
        )
        with carrying(proof):
            use = break_glass(actor=request.user, request_id=pk, channel="api", **data)
        return Response(BreakGlassOut(_visible_uses(request).get(pk=use.pk)).data, status=201)


@extend_schema_view(
    list=extend_schema(
        summary="Break-glass uses on the services you may see, newest first",
        parameters=[
            OpenApiParameter(
                "open", str, enum=["true", "false"], description="only open (or closed) reviews"
            )
        ],
        responses={200: BreakGlassOut(many=True), **errors(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(
        summary="One break-glass use with its reviews",
        responses={200: BreakGlassOut, **errors(401, 403, 404, 429)},
    ),
)
class BreakGlassViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    pagination_class = Pages
    serializer_class = BreakGlassOut
    lookup_value_regex = "[0-9]+"
    token_scopes = {"list": "read", "retrieve": "read", "reviews": "decide"}
    replay_object = "break_glass"

    def get_queryset(self):
        return _visible_uses(self.request)

    def list(self, request, *args, **kwargs):
        raw = request.query_params.get("open")
        if raw not in (None, "true", "false"):
            raise exceptions.ValidationError({"open": ["true or false"]})
        queryset = uses_for(
            request.user,
            service_ids=visible_service_ids(request),
            open_only=None if raw is None else raw == "true",
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(BreakGlassOut(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(BreakGlassOut(self.get_object()).data)

    @extend_schema(
        summary="Record your post-incident review (not the user's own; people only)",
        request=ReviewIn,
        responses={201: BreakGlassOut, **errors(400, 401, 403, 404, 409, 422, 429)},
    )
    @action(detail=True, methods=["post"])
    def reviews(self, request, pk=None):
        self.get_object()
        data = _valid(ReviewIn, request)
        record_review(actor=request.user, break_glass_id=int(pk), **data)
        return Response(BreakGlassOut(self.get_object()).data, status=status.HTTP_201_CREATED)
