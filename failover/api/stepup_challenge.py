"""`POST /api/v1/step-up/challenge/`: a passkey challenge bound to an act, its object and plan,
for a browser-session caller; the act's body then carries `step_up: {challenge, passkey}`.

A token caller asks for one to renew its token's step-up with the person's passkey
(act `renew_token`, target `token:<prefix>`, as `POST /api/v1/tokens/current/step-up/` binds
it): any token may, as any token may renew its own step-up; a challenge alone changes nothing."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from failover.api.base import ApiViewMixin
from failover.api.schema import errors
from failover.api.serializers import StrictInput, Text
from failover.api.tokens import AnyTokenSchema
from failover.errors import InvalidInput
from identity import passkeys
from identity.stepup import Binding, StepUpError


class ChallengeIn(StrictInput):
    act = Text(max_length=30, help_text="the act to confirm, e.g. approve, execute, rollback")
    target = Text(
        max_length=100, required=False, default="", help_text='its object, e.g. "request:12"'
    )
    plan_hash = Text(
        max_length=64, required=False, default="", allow_blank=True, help_text="the plan's hash"
    )


class ChallengeOut(serializers.Serializer):
    challenge = serializers.CharField(help_text="send back as step_up.challenge")
    publicKey = serializers.JSONField(
        help_text="PublicKeyCredentialRequestOptions (base64url) for navigator.credentials.get"
    )


class StepUpChallengeView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]
    schema = AnyTokenSchema()

    @extend_schema(
        summary="A passkey challenge for one act on one object and plan",
        request=ChallengeIn,
        responses={200: ChallengeOut, **errors(400, 401, 429)},
        examples=[
            OpenApiExample(
                "approve request 12",
                request_only=True,
                value={"act": "approve", "target": "request:12", "plan_hash": "9f2c…"},
            )
        ],
    )
    def post(self, request):
        serializer = ChallengeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        binding = Binding(data["act"], data.get("target", ""), data.get("plan_hash", ""))
        try:
            options = passkeys.authentication_options(request.user, binding)
        except StepUpError as exc:
            raise InvalidInput(exc.message, {"step_up": exc.message}) from None
        return Response(ChallengeOut(options).data)
