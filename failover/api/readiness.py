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
from failover.api import present
from failover.api import serializers as s
from failover.api.errors import error_response
from failover.api.stepup import require_step_up
from identity.stepup import carrying

_ERRORS = {
    code: OpenApiResponse(s.ErrorOut, description=text)
    for code, text in {
        400: "invalid input, with field errors",
        401: "no or bad credentials",
        403: "the authority (or token scope) is missing",
        404: "no such object among those you may see",
        409: "state conflict",
        429: "throttled; names the limit",
    }.items()
}


def _errors(*codes):
    return {code: _ERRORS[code] for code in codes}


class ReadinessActions:
    """Needs `_visible(pk)`, `_valid` style input checking and `_one(pk)` from the viewset.

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
        responses={200: s.ReadinessOut, **_errors(401, 404, 429)},
    )
    @action(detail=True, methods=["get"])
    def readiness(self, request, pk=None):
        obj = self._visible(pk)
        history = ReadinessCheck.objects.filter(request=obj).select_related("lifted_by")
        return Response(
            {
                "latest": [present.readiness_check(r) for r in latest_checks(obj.pk).values()],
                "history": [
                    present.readiness_check(r) for r in history.order_by("-checked_at", "-id")
                ],
                "required_secrets": required_secrets(obj.to_target),
            }
        )

    @extend_schema(
        summary="Run the readiness checks of the target again (any authority on the service; "
        "a token needs `decide`)",
        request=None,
        responses={
            202: OpenApiResponse(description="queued; results appear under readiness"),
            **_errors(401, 403, 404, 429),
        },
    )
    @action(detail=True, methods=["post"], url_path="readiness/run")
    def readiness_run(self, request, pk=None):
        self._visible(pk)
        request_readiness_checks(actor=request.user, request_id=int(pk))
        return Response(
            {"status": "queued", "message": "the readiness checks are queued"},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="Lift the system veto of a failing readiness check (needs `veto`, a reason)",
        request=s.LiftSystemVetoIn,
        responses={200: s.FailoverRequestOut, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], url_path="readiness/lift")
    def readiness_lift(self, request, pk=None):
        self._visible(pk)
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
        request=s.SecretAttestationIn,
        responses={201: s.SecretAttestationOut, **_errors(400, 401, 403, 404, 429)},
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
        return Response(
            {
                "id": attestation.pk,
                "target": attestation.target.name,
                "secret_name": attestation.secret_name,
                "rotated_at": attestation.rotated_at,
                "attested_by": request.user.username,
                "comment": attestation.comment,
                "created_at": attestation.created_at,
            },
            status=status.HTTP_201_CREATED,
        )
