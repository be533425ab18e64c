"""JSON input the API can act on, or a 400 that says why (DESIGN invariant 11).

Every body is one JSON object, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (413 beyond), of
strict UTF-8, nested at most MAX_DEPTH levels, without duplicate keys (which would make two
readers see two different requests), NaN/Infinity, or integers outside 64 bits (no column
stores them). PostgreSQL text refuses NUL characters and unpaired surrogates, both legal as
JSON escapes, so such text is a 400 here too, not a 500 later."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32
INT_RANGE = (-(2**63), 2**63 - 1)


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, limit: int):
        super().__init__(f"the body is larger than {limit} bytes")


def storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check(data) -> None:
    """Depth and text of parsed JSON, walked without recursion (the input chooses the depth)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"the body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str) and not storable(value):
            raise ParseError("text may not contain NUL characters or unpaired surrogates")
        if isinstance(value, dict):
            pending += [(key, depth) for key in value]
            pending += [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            pending += [(item, depth + 1) for item in value]


def _object(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ParseError(f"the key {key[:100]!r} appears twice in one object")
        seen[key] = value
    return seen


def _int(text: str) -> int:
    value = int(text)  # ValueError past Python's digit limit (4300): a 400 below
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ParseError("a number is outside the 64-bit integer range")
    return value


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ParseError("a number is too large")
    return value


def _constant(name: str):
    raise ParseError(f"{name} is not a JSON number")


def loads(raw: bytes, limit: int | None = None):
    """The body as the one JSON object it must be, or ParseError/BodyTooLarge."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if limit is None else limit
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RecursionError:
        raise ParseError(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise ParseError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParseError(f"the body must be a JSON object, not {type(data).__name__}")
    check(data)
    return data


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        charset = (media_type or "").lower().partition("charset=")[2].split(";")[0].strip()
        if charset and charset.strip("\"'") not in ("utf-8", "utf8"):
            raise ParseError("the body must be UTF-8 JSON")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # Read one byte past the limit: a body longer than its Content-Length said is cut
        # by the server, and a missing length must not let a body grow without bound.
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        return loads(raw, limit)
