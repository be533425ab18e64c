from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from approvals.execution import execute_request
from failover.errors import InvalidInput, ServiceError
from failover.models import FailoverRequest, Service
from failover.services import declare_request
from failover.web.access import declarable_service_ids, login_required
from failover.web.errors import status_for
from failover.web.forms import DeclareForm
from failover.web.preview import preview
from failover.web.stepup import StepUpError, confirm_act
from failover.web.views.common import page
from identity.stepup import carrying


def _destinations(request):
    services = Service.objects.filter(pk__in=declarable_service_ids(request)).prefetch_related(
        "targets"
    )
    return [(s, [t for t in s.targets.all() if not t.active]) for s in services]


def _initial(request, destinations) -> dict:
    wanted = request.GET.get("service", "")
    choices = [(s, targets) for s, targets in destinations if targets]
    for service, targets in choices:
        if service.slug == wanted or len(choices) == 1:
            return {"destination": f"{service.slug}/{targets[0].name}"}
    return {}


def _preview_for(form: DeclareForm, destination: str, segment: str) -> dict | None:
    service, target = form.service_and_target(destination)
    return preview(service, target, segment) if service else None


@login_required
def declare(request):
    destinations = _destinations(request)
    status, conflict_id = 200, None
    if request.method == "POST" and request.POST.get("intent") == "preview":
        # Only refresh the plan: keep what was typed, judge nothing yet.
        form = DeclareForm(initial=request.POST.dict(), destinations=destinations)
    elif request.method == "POST":
        form = DeclareForm(request.POST, destinations=destinations)
        if not form.is_valid():
            status = 400
            messages.error(request, "The failover was not declared: check the fields marked.")
        else:
            intent = request.POST.get("intent")
            result = _declare(
                request, form, execute=intent == "execute", drill=intent == "rehearse"
            )
            if not isinstance(result, int):
                return result
            status = result
            conflict_id = getattr(form, "conflict_request_id", None)
    else:
        form = DeclareForm(initial=_initial(request, destinations), destinations=destinations)
    destination = form["destination"].value() or ""
    segment = form["segment"].value() or ""
    context = {
        "form": form,
        "has_destinations": any(targets for _, targets in destinations),
        "preview": _preview_for(form, destination, segment),
        "conflict_id": conflict_id,
        "conflict_state": _state_of(conflict_id) if conflict_id else None,
        "password_errors": form.errors.get("password", []),
    }
    return page(request, "web/declare.html", context, nav="declare", status=status)


def _declare(request, form: DeclareForm, *, execute: bool, drill: bool = False):
    """Declare (and, if asked, execute at once) or rehearse (`drill`: the same request on the
    drill records, never executed at once); a redirect on success, else a status."""
    what = "drill" if drill else "failover"
    service, target = form.service_and_target()
    proof = None
    if execute:
        try:
            # No request and no plan exist yet to bind: the passkey signs "execute a new
            # request"; the audit event of the execution names the plan it applied.
            proof = confirm_act(request, "execute", target="new-request")
        except StepUpError as exc:
            form.add_error("password", exc.message)
            messages.error(request, f"Nothing was declared: {exc.message}.")
            return 429 if exc.locked else 400
    data = form.cleaned_data
    try:
        declared = declare_request(
            actor=request.user,
            service=service,
            target=target,
            reason=data["reason"],
            incident_ref=data["incident_ref"],
            rollback_criteria=form.criteria(),
            segment=data["segment"],
            channel="web",
            drill=drill,
        )
    except InvalidInput as exc:
        form.add_service_errors(exc.fields)
        messages.error(request, f"The {what} was not declared: {exc.message}.")
        return status_for(exc)
    except ServiceError as exc:
        form.conflict_request_id = exc.extra.get("request_id")
        messages.error(request, f"The {what} was not declared: {_conflict_words(exc)}.")
        return status_for(exc)
    if drill:
        messages.success(
            request, f"Drill #{declared.pk} declared: the chain decides as for a real failover."
        )
        return redirect("request-page", declared.pk)
    messages.success(request, f"Failover #{declared.pk} declared.")
    if execute:
        try:
            with carrying(proof):
                execute_request(actor=request.user, request_id=declared.pk, channel="web")
        except ServiceError as exc:
            messages.error(request, f"It was not executed: {exc.message}.")
        else:
            messages.success(request, "Executing now: the DNS change is on its way.")
    return redirect("request-page", declared.pk)


def _state_of(request_id: int) -> str | None:
    return FailoverRequest.objects.filter(pk=request_id).values_list("state", flat=True).first()


def _conflict_words(exc: ServiceError) -> str:
    """An applied request cannot be cancelled, only rolled back: say so, not "cancel it first"
    (the services layer's message is one for every active state)."""
    found = exc.extra.get("request_id")
    state = _state_of(found) if found else None
    if state in AFTER_CANCEL:
        return f"failover #{found} is {state.replace('_', ' ')}: {AFTER_CANCEL[state]}"
    return exc.message


# Active states a request can no longer be cancelled in, and what to do instead.
AFTER_CANCEL = {
    "executing": "wait until it is applied, then roll it back if traffic should go back",
    "applied": "roll it back first (from its page), then declare again",
    "rolling_back": "wait until the rollback finishes",
}


@login_required
def declare_plan(request):
    """The plan preview fragment, refreshed as the commander picks a destination."""
    form = DeclareForm(destinations=_destinations(request))
    context = {
        "preview": _preview_for(
            form, request.GET.get("destination", ""), request.GET.get("segment", "")
        ),
        "oob": True,
        "password_errors": [],
    }
    return render(request, "web/_plan_preview.html", context)
