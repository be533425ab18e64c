from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string

REASONS = {400: "invalid", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def refusal(request, status: int, code: str, message: str) -> HttpResponse:
    """The JSON error envelope under /api/ (clients parse it), a plain page elsewhere."""
    if _is_api(request):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    page = render_to_string(f"{status}.html", {"message": message})
    return HttpResponse(page, status=status)


class RejectUnstorableText:
    """A NUL in the path or query string (%00) can reach a database filter, which PostgreSQL
    refuses with an error: answer 400 before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        values = [request.path, *(v for vs in request.GET.lists() for v in [vs[0], *vs[1]])]
        if any("\x00" in value for value in values):
            message = "the path or query string contains a NUL character"
            if _is_api(request):
                return JsonResponse({"error": {"code": "invalid", "message": message}}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)


class RefuseBadBodies:
    """Bodies no door can use get a 4xx before or instead of a 500 (DESIGN invariant 11):

    - a Content-Length above DATA_UPLOAD_MAX_MEMORY_SIZE: 413 before anything reads it (the
      API's JSON parser reads the stream itself, where Django's own limit never applies);
    - any other 4xx under /api/ that is not JSON (Django's HTML 400 for a form it refused,
      a 405 from the docs page): the same status in the JSON error envelope, so API clients
      parse every error. (Django answers its own refusals of a body, SuspiciousOperation,
      with a 400 and never a 500; outside /api/ that is templates/400.html.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refusal(request, 400, "invalid", "the Content-Length header is not a number")
        if length < 0:
            return refusal(request, 400, "invalid", "the Content-Length header is negative")
        if limit is not None and length > limit:
            return refusal(request, 413, "too_large", f"the body is larger than {limit} bytes")
        response = self.get_response(request)
        if _is_api(request) and 400 <= response.status_code < 500:
            content_type = response.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                status = response.status_code
                message = response.reason_phrase or "the request was refused"
                enveloped = refusal(request, status, REASONS.get(status, "refused"), message)
                for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                    if header in response:
                        enveloped[header] = response[header]
                return enveloped
        return response
