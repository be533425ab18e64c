"""REST door onto the insights page: how fast each team decides, drills and incidents side by
side (approvals/timings.py), for the services the caller may see (a token limited to services
sees only those); a token needs `read`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.timings import DEFAULT_DAYS, MAX_DAYS, insight_days, insights_for
from failover.api.access import visible_service_ids
from failover.api.base import ApiViewMixin
from failover.api.schema import errors
from failover.api.serializers import TimingsOut


class InsightRequestOut(serializers.Serializer):
    id = serializers.IntegerField()
    service = serializers.CharField()
    drill = serializers.BooleanField()
    state = serializers.CharField()
    declared_at = serializers.DateTimeField()
    seconds = TimingsOut()


class MedianOut(serializers.Serializer):
    count = serializers.IntegerField()
    median = serializers.FloatField(allow_null=True, help_text="seconds")


class InsightSummaryOut(serializers.Serializer):
    service = serializers.CharField()
    role = serializers.CharField()
    drills = MedianOut()
    incidents = MedianOut()


class DrillStatusOut(serializers.Serializer):
    service = serializers.CharField()
    window_days = serializers.IntegerField()
    last_drilled_at = serializers.DateTimeField(
        allow_null=True, help_text="when the newest completed drill was declared"
    )
    overdue = serializers.BooleanField(help_text="no drill completed within the window")
    idle_roles = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="role -> its holders, when none of them decided anything in the window",
    )


class InsightsOut(serializers.Serializer):
    since = serializers.DateTimeField()
    requests = InsightRequestOut(many=True, help_text="oldest first, at most the newest 1000")
    summary = InsightSummaryOut(many=True)
    services = DrillStatusOut(many=True)


class InsightsView(ApiViewMixin, APIView):  # type: ignore[misc]  # as every APIView here
    token_scopes = {"get": "read"}

    @extend_schema(
        summary="How fast each team decides: drills and incidents side by side",
        description="Seconds from declaration to each role's first decision, to quorum, to "
        "applied and to verified, for every request of the services you may see in the last "
        "`days` days; per service and role the median in drills and in incidents; and per "
        "service whether a drill is overdue and which roles' holders have not acted.",
        parameters=[
            OpenApiParameter("days", int, description=f"1 to {MAX_DAYS} (default {DEFAULT_DAYS})")
        ],
        responses={200: InsightsOut, **errors(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        days = insight_days(request.query_params.get("days"), blank_is_default=False)
        return Response(InsightsOut(insights_for(visible_service_ids(request), days)).data)
