"""Baseline endpoints for `bench/api_load.py` and `bench/webhook_intake.py`, routed only by the
benchmarks' URLconf (bench/urls.py) and only when BENCH_BASELINE=1: never in the product. They
go through the same gunicorn, middleware and DRF defaults as the API (bearer token,
IsAuthenticated, throttling) and do none of the product's work, so the benchmark can say what
the product costs on top of the framework:

- the floors: a constant, and one raw INSERT;
- bare DRF endpoints of the same shape as the product's: a generic `RetrieveAPIView` with a
  `ModelSerializer` of all the request row's fields (no visibility check, no verdict, no
  decisions or changes), and a decision-shaped POST validated by a plain serializer and
  stored with one INSERT (no authority check, no lock, no audit event, no verdict).
"""

from __future__ import annotations

from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from failover.models import FailoverRequest

# Created by the benchmark in its own database; no migration adds it anywhere else.
TABLE = "bench_baseline"


class ConstantView(APIView):
    def get(self, request):
        return Response({"ok": True})


class InsertView(APIView):
    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} (at) VALUES (%s)", [timezone.now()])
        return Response({"ok": True}, status=201)


class RequestRow(serializers.ModelSerializer):
    class Meta:
        model = FailoverRequest
        fields = "__all__"


class RequestRowView(generics.RetrieveAPIView):
    queryset = FailoverRequest.objects.all()
    serializer_class = RequestRow


class DecisionShape(serializers.Serializer):
    kind = serializers.ChoiceField(["approve", "veto", "lift_veto", "sign_off", "reject"])
    role = serializers.CharField(required=False, allow_blank=True, max_length=20)
    plan_hash = serializers.CharField(required=False, allow_blank=True, max_length=64)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DecisionShapeView(APIView):
    def post(self, request, pk):
        data = DecisionShape(data=request.data)
        data.is_valid(raise_exception=True)
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} (at) VALUES (%s)", [timezone.now()])
        return Response({"request": pk, **data.validated_data}, status=201)


urlpatterns = [
    path("constant/", ConstantView.as_view()),
    path("insert/", InsertView.as_view()),
    path("requests/<int:pk>/", RequestRowView.as_view()),
    path("requests/<int:pk>/decisions/", DecisionShapeView.as_view()),
]
