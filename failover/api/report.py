"""REST door onto the post-incident report: the same evidence as the report page, as JSON or
(`?as=md`) Markdown. Readable by whoever may read the request, and by audit.view holders;
a token needs `read`, and one limited to services reads only those services' reports."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from failover.api.access import token_service_ids, visible_service_ids
from failover.api.base import ApiViewMixin
from failover.api.schema import errors
from failover.models import FailoverRequest
from failover.report.evidence import build_report
from failover.report.markdown import render

FORMATS = ("json", "md")


class VerificationOut(serializers.Serializer):
    ok = serializers.BooleanField()
    verified = serializers.IntegerField(help_text="events of this request verified")
    events = serializers.IntegerField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    request_events = serializers.DictField()
    chain = serializers.DictField(help_text="the whole chain, when it is small enough to walk")


class ControlOut(serializers.Serializer):
    framework = serializers.CharField()
    id = serializers.CharField()
    title = serializers.CharField()
    asks = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=["met", "gap", "not_applicable"])
    lines = serializers.ListField(
        child=serializers.CharField(), help_text="evidence (met), what is missing (gap) or why"
    )


class FrameworksOut(serializers.Serializer):
    summary = serializers.DictField(child=serializers.IntegerField())
    controls = ControlOut(many=True)


class ReportOut(serializers.Serializer):
    report = serializers.DictField(help_text="version and generation time")
    request = serializers.DictField(help_text="the request, its plan, plan hash and execution")
    timeline = serializers.ListField(child=serializers.DictField())
    decisions = serializers.ListField(child=serializers.DictField())
    dns_changes = serializers.ListField(
        child=serializers.DictField(), help_text="each with provider change id and records"
    )
    providers = serializers.ListField(child=serializers.DictField())
    rollback = serializers.DictField()
    readiness = serializers.DictField()
    break_glass = serializers.ListField(child=serializers.DictField())
    identities = serializers.ListField(child=serializers.DictField())
    verification = VerificationOut()
    secret_scan = serializers.DictField()
    rehearsal = serializers.DictField(
        help_text="a drill's own seconds; for a real failover, the service's last completed "
        "drill before it and whether it was within the policy's window"
    )
    frameworks = FrameworksOut()


class RequestReportView(ApiViewMixin, APIView):
    token_scopes = {"get": "read"}

    @extend_schema(
        summary="Post-incident report: timeline, decisions, DNS changes, readiness, "
        "break-glass, audit verification and framework mapping",
        parameters=[
            OpenApiParameter(
                "as", str, enum=list(FORMATS), description="json (default) or md for Markdown"
            )
        ],
        responses={
            (200, "application/json"): ReportOut,
            (200, "text/markdown"): OpenApiTypes.STR,
            **errors(400, 401, 403, 404, 429),
        },
    )
    def get(self, request, pk: int):
        kind = request.query_params.get("as", "json")  # not "format": DRF reserves it
        if kind not in FORMATS:
            raise exceptions.ValidationError({"as": ["json or md"]})
        readable = FailoverRequest.objects.all()
        if not request.user.has_perm("audit.view_auditevent"):  # auditors read every report
            readable = readable.filter(service__in=visible_service_ids(request))
        elif (scoped := token_service_ids(request)) is not None:  # ... their token lets them
            readable = readable.filter(service__in=scoped)
        obj = get_object_or_404(readable, pk=pk)
        report = build_report(obj)
        if kind == "md":
            return HttpResponse(render(report), content_type="text/markdown; charset=utf-8")
        return Response(ReportOut(report).data)
