"""What the OpenAPI document says beyond the serializers: the error shape of each status, the
Idempotency-Key header and its replay header, and the post-processing hook (input objects
refuse unknown fields, StrictInput)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from failover.api import serializers as s

ERRORS = {
    400: OpenApiResponse(s.InvalidOut, description="invalid input, with field errors"),
    401: OpenApiResponse(s.ErrorOut, description="no or bad credentials"),
    403: OpenApiResponse(
        s.ForbiddenOut,
        description="the authority is missing (`authority` names it), the token lacks the "
        "action the route needs (`token_scope`), or a token's step-up is stale",
    ),
    404: OpenApiResponse(s.ErrorOut, description="no such object among those you may see"),
    409: OpenApiResponse(
        s.ConflictOut,
        description="state conflict (`state`), stale plan hash (`current_plan_hash`), "
        "blocked (`reasons`), or the same Idempotency-Key still being processed",
    ),
    422: OpenApiResponse(s.ErrorOut, description="Idempotency-Key reused with another body"),
    429: OpenApiResponse(s.ThrottledOut, description="throttled; names the limit"),
    503: OpenApiResponse(
        s.ErrorOut, description="a DNS provider could not be read to build the plan"
    ),
}
IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[ -~]*[!-~][ -~]*$"},
    OpenApiParameter.HEADER,
    required=False,
    description="Repeat a POST safely: the same key and body return the first response.",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=True,
    description="Present when this is the stored response of an earlier POST with the same "
    "Idempotency-Key, replayed rather than done again.",
)
TOKEN_EXPIRES = OpenApiParameter(
    "X-Token-Expires",
    str,
    OpenApiParameter.HEADER,
    response=True,
    description="Sent with every answer to a caller that used a token: when the token expires "
    "(an ISO 8601 time), or `never` for a service account's token without an expiry.",
)
# No maximum: a larger id than the database holds finds nothing (404), like any unknown id.
OBJECT_ID = OpenApiParameter(
    "id", {"type": "integer", "minimum": 0}, OpenApiParameter.PATH, description="the object's id"
)


def errors(*codes):
    return {code: ERRORS[code] for code in codes}


def forbid_unknown_request_fields(result, generator, request, public):
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("InRequest") or name.endswith("In"):
            component["additionalProperties"] = False
    return result
