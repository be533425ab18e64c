"""Who sees what in the browser: services where the viewer holds some authority, nothing
else (404, so a service's existence does not leak), and login for every page."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import resolve_url

from failover.chain import authority_chains, services_with_authority
from failover.models import FailoverRequest, Service

LOGIN = "login"


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def login_required(view):
    """Like Django's, but a polled fragment whose session ended asks htmx to go to the sign-in
    page instead of swapping the sign-in form into the middle of the page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = resolve_url(LOGIN)
            return response
        return redirect_to_login(request.get_full_path(), resolve_url(LOGIN))

    return wrapper


def visible_service_ids(request) -> set[int]:
    cached = getattr(request, "_web_visible_services", None)
    if cached is None:
        cached = request._web_visible_services = services_with_authority(request.user)
    return cached


def service_or_404(request, slug: str) -> Service:
    service = (
        Service.objects.filter(slug=slug, pk__in=visible_service_ids(request))
        .select_related("policy")
        .first()
    )
    if service is None:
        raise Http404("no such service")
    return service


def request_or_404(request, pk: int) -> FailoverRequest:
    obj = (
        FailoverRequest.objects.filter(pk=pk, service__in=visible_service_ids(request))
        .select_related("service", "service__policy", "from_target", "to_target", "requester")
        .first()
    )
    if obj is None:
        raise Http404("no such request")
    return obj


def report_or_404(request, pk: int) -> FailoverRequest:
    """A request whose post-incident report the viewer may read: any request of a service
    they hold authority on, and every request for auditors (audit.view_auditevent), who
    review incidents without holding authority on services."""
    if not request.user.has_perm("audit.view_auditevent"):
        return request_or_404(request, pk)
    obj = (
        FailoverRequest.objects.filter(pk=pk)
        .select_related("service", "service__policy", "from_target", "to_target", "requester")
        .first()
    )
    if obj is None:
        raise Http404("no such request")
    return obj


def visible_services(request):
    return Service.objects.filter(pk__in=visible_service_ids(request))


def declarable_service_ids(request) -> set[int]:
    """Services where the viewer holds `declare` (for the navigation and the declare page)."""
    cached = getattr(request, "_web_declarable", None)
    if cached is None:
        chains = authority_chains(visible_services(request))
        name = request.user.get_username()
        cached = {pk for pk, chain in chains.items() if name in chain.entry("declare").holders}
        request._web_declarable = cached
    return cached
