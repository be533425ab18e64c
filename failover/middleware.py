from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse


class RejectUnstorableText:
    """A NUL in the path or query string (%00) can reach a database filter, which PostgreSQL
    refuses with an error: answer 400 before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        values = [request.path, *(v for vs in request.GET.lists() for v in [vs[0], *vs[1]])]
        if any("\x00" in value for value in values):
            message = "the path or query string contains a NUL character"
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "invalid", "message": message}}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)
