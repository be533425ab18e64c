"""JSON input the database can store: PostgreSQL text refuses NUL characters and unpaired
surrogates (both legal as JSON escapes), so such input is a 400 here, not a 500 later."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def storable(value) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if not storable(data):
            raise ParseError("text may not contain NUL characters or unpaired surrogates")
        return data
