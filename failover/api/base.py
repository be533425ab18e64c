"""Behaviour every API view shares: idempotent POSTs and throttling that names its limit."""

from __future__ import annotations

import hashlib
import inspect
import json
import re

from django.db import IntegrityError
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from approvals.models import ApiToken, IdempotencyKey
from failover.api.access import TokenScope, replay_visible, route_scope, token_of
from failover.api.errors import error_response
from failover.api.schema import ERRORS, IDEMPOTENCY, OBJECT_ID, REPLAYED, TOKEN_EXPIRES

KEY_PATTERN = re.compile(r"[ -~]*[!-~][ -~]*")  # the schema documents the same pattern


class _Replay(Exception):
    def __init__(self, record: IdempotencyKey):
        self.record = record


class _Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


class TokenScopeSchema(AutoSchema):
    """Each operation in the OpenAPI document says which token action it needs, from the
    same `token_scopes` the permission check reads, and documents what ApiViewMixin does on
    every route whatever its handler says: 401 and 429 everywhere, 403 where the token scope
    is checked, and on a POST the Idempotency-Key (400 malformed, 409 in progress, 422
    reused, 404 replay out of sight) with the Idempotent-Replayed answer header. Object ids
    in paths are integers (every `{id}` route matches digits only)."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if "{id}" in self.path:
            parameters.insert(0, OBJECT_ID)  # the view's own (later) wins where it has one
        if isinstance(self.view, ApiViewMixin):
            parameters.append(TOKEN_EXPIRES)
        if self.method == "POST" and isinstance(self.view, ApiViewMixin):
            parameters += [IDEMPOTENCY, REPLAYED]
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if not isinstance(self.view, ApiViewMixin):
            return responses
        codes = [401, 429]
        if TokenScope in self.view.permission_classes:
            codes.append(403)
        if self.method == "POST":
            codes += [400, 404, 409, 422]
        for code in codes:
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    ERRORS[code], str(code), direction=direction
                )
        return dict(sorted(responses.items()))

    def get_description(self):
        # The handler's own docstring or its class's, never one inherited from a mixin (which
        # describes this code to its readers, not the API to its callers).
        handler = getattr(self.view, getattr(self.view, "action", None) or self.method.lower())
        return inspect.getdoc(handler) or inspect.cleandoc(
            type(self.view).__dict__.get("__doc__") or ""
        )

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        needed = route_scope(self.view, self.method)
        if operation is not None and needed:
            note = (
                f"A token needs the `{needed}` action; one limited to services sees and acts "
                "on those services only."
            )
            text = operation.get("description")
            operation["description"] = f"{text}\n\n{note}" if text else note
        return operation


def _renewable_refusal(response) -> bool:
    """A token's stale step-up: renewed, the same call with the same key must be tried anew,
    not answered with this refusal again."""
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and error.get("code") == "step_up_stale"


class ApiViewMixin:
    """Token scopes (`token_scopes`: the token action each handler needs, checked before
    anything else) and `Idempotency-Key` on a POST: the same key and body get the first
    response again; the same key with another body or path gets 422. A key belongs to the
    token that sent it (a session's to its user), and a replay is refused with 404 when the
    caller may no longer see what the first response was about (`replay_object`)."""

    permission_classes = [IsAuthenticated, TokenScope]
    schema = TokenScopeSchema()
    token_scopes: dict[str, str] = {}
    replay_object: str | None = None
    _idempotency: IdempotencyKey | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None:
            return
        if not KEY_PATTERN.fullmatch(key) or len(key) > 200:
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["1 to 200 printable ASCII characters, not only spaces"]}
            )
        body_hash = hashlib.sha256(request.body).hexdigest()
        owner = {"user": request.user, "token": token_of(request), "key": key}
        try:
            record, created = IdempotencyKey.objects.get_or_create(
                **owner,
                defaults={"method": request.method, "path": request.path, "body_hash": body_hash},
            )
        except IntegrityError:
            record, created = IdempotencyKey.objects.get(**owner), False
        if created:
            self._idempotency = record
            return
        if record.body_hash != body_hash or record.path != request.path:
            raise _Refused(
                error_response(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request; use a new key",
                )
            )
        if record.status_code is None:
            raise _Refused(
                error_response(
                    409,
                    "idempotency_in_progress",
                    "a request with this Idempotency-Key is still being processed",
                )
            )
        if not replay_visible(request, self, record):
            raise exceptions.NotFound("no such object among those you may see")
        raise _Replay(record)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            response = Response(exc.record.response, status=exc.record.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        if isinstance(exc, _Refused):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # How long the credential lives, on every answer it got (`_auth`: never authenticate
        # anew here, where a refusal could not be answered).
        token = getattr(request, "_auth", None)
        if isinstance(token, ApiToken):
            response["X-Token-Expires"] = (
                token.expires_at.isoformat() if token.expires_at else "never"
            )
        record, self._idempotency = self._idempotency, None
        if record is not None:
            if response.status_code >= 500 or _renewable_refusal(response):
                record.delete()  # nothing happened for sure: let the caller retry the key
            else:
                data = getattr(response, "data", None)
                stored = json.loads(JSONRenderer().render(data)) if data is not None else None
                IdempotencyKey.objects.filter(pk=record.pk).update(
                    status_code=response.status_code, response=stored
                )
        return response

    def check_throttles(self, request):
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                exc = exceptions.Throttled(throttle.wait())
                exc.scope = f"{throttle.scope} ({throttle.rate})"
                raise exc
