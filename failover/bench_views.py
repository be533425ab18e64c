"""Baseline endpoints for `bench/api_load.py`, routed only when BENCH_BASELINE=1 (never in
production). They go through the same gunicorn, middleware and DRF defaults as the API
(bearer token, IsAuthenticated, throttling) and do none of the product's work, so the
benchmark can say what the product costs on top of the framework.
"""

from __future__ import annotations

from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

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


urlpatterns = [
    path("constant/", ConstantView.as_view()),
    path("insert/", InsertView.as_view()),
]
