"""REST doors onto the token that authenticates the request: what it is and how long it lives
(`GET /api/v1/tokens/current/`), and renewing its person's step-up
(`POST /api/v1/tokens/current/step-up/`) so its human acts count again.

Any token may use them, whatever actions it names: a token limited to `decide` must still be
able to renew its own step-up. A browser session has no current token (404)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.tokens import (
    RENEW_ACT,
    check_renewable,
    describe,
    renew_step_up,
    renew_target,
)
from failover.api.access import token_of
from failover.api.base import ApiViewMixin, TokenScopeSchema
from failover.api.schema import errors
from failover.api.serializers import StepUpIn, StrictInput
from failover.errors import InvalidInput
from identity.stepup import Binding, StepUpError, confirm, evidence_from

ANY_TOKEN_NOTE = (
    "Any token may use this route, whatever actions it names: it concerns only the token "
    "that authenticates the request."
)


class TokenOut(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="names the token in logs and on the tokens page")
    user = serializers.CharField()
    actions = serializers.ListField(child=serializers.CharField())
    services = serializers.ListField(
        child=serializers.CharField(), help_text="empty: every service of the user"
    )
    acting = serializers.BooleanField(help_text="can decide, execute or roll back")
    service_account = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never")
    stepped_up_at = serializers.DateTimeField(
        allow_null=True, help_text="when its person last stepped up for it"
    )
    step_up_valid_until = serializers.DateTimeField(
        allow_null=True, help_text="human acts by the token are refused after this"
    )
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    rotated_from = serializers.CharField(allow_null=True)


class TokenStepUpIn(StrictInput, StepUpIn):
    step_up = StepUpIn(required=False)


class AnyTokenSchema(TokenScopeSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            text = operation.get("description")
            operation["description"] = f"{text}\n\n{ANY_TOKEN_NOTE}" if text else ANY_TOKEN_NOTE
        return operation


class TokenCaller(BasePermission):
    def has_permission(self, request, view) -> bool:
        if token_of(request) is None:
            raise exceptions.NotFound(
                "this request carries no token: these routes describe the token in the "
                "Authorization header"
            )
        return True


class CurrentTokenMixin(ApiViewMixin):
    permission_classes = [IsAuthenticated, TokenCaller]
    schema = AnyTokenSchema()


class CurrentTokenView(CurrentTokenMixin, APIView):
    @extend_schema(
        summary="The token of this request: its actions, services, expiry and step-up",
        responses={200: TokenOut, **errors(401, 404, 429)},
    )
    def get(self, request):
        return Response(TokenOut(describe(token_of(request))).data)


class TokenStepUpView(CurrentTokenMixin, APIView):
    @extend_schema(
        summary="Renew the token's step-up: its person confirms it is them, and human acts "
        "(approve, execute, roll back, ...) by the token count again",
        request=TokenStepUpIn,
        responses={200: TokenOut, **errors(400, 401, 403, 404, 429)},
        examples=[
            OpenApiExample("authenticator code", request_only=True, value={"totp": "123456"}),
            OpenApiExample(
                "password (where local passwords are on)",
                request_only=True,
                value={"password": "..."},
            ),
        ],
    )
    def post(self, request):
        token = token_of(request)
        serializer = TokenStepUpIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_renewable(token)
        try:
            proof = confirm(
                request.user,
                Binding(RENEW_ACT, renew_target(token)),
                evidence_from(serializer.validated_data),
            )
        except StepUpError as exc:
            if exc.locked:
                throttled = exceptions.Throttled(wait=exc.retry_after, detail=exc.message)
                throttled.scope = "step-up (5 wrong answers in 10 min)"
                raise throttled from None
            raise InvalidInput(
                "renewing the token's step-up: confirm it is you", {"step_up": exc.message}
            ) from None
        return Response(TokenOut(describe(renew_step_up(token=token, step_up=proof))).data)
