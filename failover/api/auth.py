from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from approvals.tokens import TokenRejected, check_token


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`; the token is request.auth (for its scopes)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        value = value.strip()
        if not value:
            raise exceptions.AuthenticationFailed("empty bearer token")
        try:
            token = check_token(value)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(exc.reason) from None
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "failover.api.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (shown once): a personal one from the tokens page "
            "(/account/tokens/), or one that reads and declares from `manage.py create_token`. "
            "Every answer to a token says when it expires (`X-Token-Expires`).",
        }
