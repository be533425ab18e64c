"""Readiness evidence of a request's target over REST: read it, run the checks again, lift a
system veto, attest a secret rotation. Mixed into the failover-request viewset."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from approvals.readiness.models import ReadinessCheck
from approvals.readiness.selectors import latest_checks, required_secrets
from approvals.readiness.services import attest_secret, lift_system_veto, request_readiness_checks
from failover.api import serializers as s
from failover.api.errors import error_response
from failover.api.schema import errors
from failover.api.stepup import require_step_up
from identity.stepup import carrying


class ReadinessActions:
    """The readiness routes of a failover request, mixed into its viewset (which gives
    `_visible(pk)` and `_must_see(pk)`, `_valid` and `_one(pk)`).

    Token scopes: reading the evidence is `read`. Running the checks again is `decide`, not
    `read`: a run makes this server fetch the target's endpoints and its results set or clear
    the system vetoes and the readiness block, so it changes whether the request may execute,
    which only an act on the request's decision should. Lifting a system veto and attesting a
    secret rotation are decisions too (a veto lift; the identity lead's validation)."""

    token_scopes = {
        "readiness": "read",
        "readiness_run": "decide",
        "readiness_lift": "decide",
        "secret_attestations": "decide",
    }

    @extend_schema(
        summary="Readiness evidence of the request's target: latest per kind and history",
        description="What the readiness checks found about the target (TLS, identity "
        "provider, secrets, health): the latest check of each kind, every check newest "
        "first, and the secrets the target must have had rotated. A failing identity-critical "
        "check is a system veto on the request until a veto holder lifts it.",
        responses={200: s.ReadinessOut, **errors(401, 404, 429)},
    )
    @action(detail=True, methods=["get"])
    def readiness(self, request, pk=None):
        obj = self._visible(pk)
        history = ReadinessCheck.objects.filter(request=obj).select_related("lifted_by")
        evidence = {
            "latest": latest_checks(obj.pk).values(),
            "history": history.order_by("-checked_at", "-id"),
            "required_secrets": required_secrets(obj.to_target),
        }
        return Response(s.ReadinessOut(evidence).data)

    @extend_schema(
        summary="Run the readiness checks of the target again (any authority on the service; "
        "a token needs `decide`)",
        description="Queues the checks; their results appear under `…/readiness/` and in the "
        "request's `readiness` and `blocked_by` once a worker has run them.",
        request=None,
        responses={
            202: OpenApiResponse(
                s.ReadinessRunOut, description="queued; results appear under readiness"
            ),
            **errors(401, 403, 404, 429),
        },
    )
    @action(detail=True, methods=["post"], url_path="readiness/run")
    def readiness_run(self, request, pk=None):
        self._must_see(pk)
        request_readiness_checks(actor=request.user, request_id=int(pk))
        queued = {"status": "queued", "message": "the readiness checks are queued"}
        return Response(s.ReadinessRunOut(queued).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Lift the system veto of a failing readiness check (needs `veto`, a reason)",
        description="A veto holder accepts the failing check (`check_id`) with a `reason`: it "
        "no longer blocks the request. The answer is the request. 404 when the check is not "
        "this request's; 409 when it was already lifted.",
        request=s.LiftSystemVetoIn,
        responses={200: s.FailoverRequestOut, **errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], url_path="readiness/lift")
    def readiness_lift(self, request, pk=None):
        self._must_see(pk)
        serializer = s.LiftSystemVetoIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not ReadinessCheck.objects.filter(pk=data["check_id"], request_id=pk).exists():
            return error_response(404, "not_found", "no such readiness check on this request")
        proof = require_step_up(request, "lift_system_veto", data, target=f"request:{pk}")
        with carrying(proof):
            lift_system_veto(actor=request.user, check_id=data["check_id"], reason=data["reason"])
        return Response(self._one(pk))

    @extend_schema(
        summary="Attest the last rotation of a secret the target depends on "
        "(needs `approve_identity`); the checks run again",
        description="The identity lead records when `secret_name` was last rotated on the "
        "request's target; the readiness checks run again. The answer is the attestation.",
        request=s.SecretAttestationIn,
        responses={201: s.SecretAttestationOut, **errors(400, 401, 403, 404, 429)},
    )
    @action(detail=True, methods=["post"], url_path="secret-attestations")
    def secret_attestations(self, request, pk=None):
        obj = self._visible(pk)
        serializer = s.SecretAttestationIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        proof = require_step_up(request, "attest", data, target=f"request:{pk}")
        with carrying(proof):
            attestation = attest_secret(actor=request.user, target=obj.to_target, **data)
        request_readiness_checks(actor=request.user, request_id=obj.pk)
        return Response(s.SecretAttestationOut(attestation).data, status=status.HTTP_201_CREATED)
