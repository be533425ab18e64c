from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache

from approvals.execution import execute_request, rollback_request
from approvals.kinds import KINDS, STEP_UP_ACTS
from approvals.readiness.services import attest_secret, lift_system_veto, request_readiness_checks
from approvals.services import record_decision
from failover.authorities import ROLE_NAMES
from failover.errors import InvalidInput, NotFound, ServiceError
from failover.models import FailoverRequest
from failover.services import cancel_request, replan_request
from failover.web.access import login_required, request_or_404
from failover.web.actions import Action
from failover.web.errors import status_for
from failover.web.forms import ActionForm
from failover.web.live import build_part, page_poller
from failover.web.present import replanned_message
from failover.web.request_page import RequestView, answer_page_poll, answer_poll, fingerprint_of
from failover.web.stepup import StepUpError, confirm_act
from failover.web.views.common import page
from identity.stepup import carrying


@login_required
def request_page(request, pk: int):
    fingerprint = fingerprint_of(pk)  # before anything the page shows (request_page.py)
    obj = request_or_404(request, pk)
    status, failed = 200, None
    if request.method == "POST":
        outcome = _act(request, obj)
        if not isinstance(outcome, tuple):
            return outcome
        status, failed = outcome
        fingerprint = fingerprint_of(pk)
        obj = request_or_404(request, pk)  # show the state as it is now
    view = RequestView(request, obj, fingerprint=fingerprint)
    hint = request.GET.get("action", "") if request.method == "GET" else ""
    status_part = build_part(request, **view.status())
    actions_part = build_part(request, **view.actions_part(hint=hint, failed=failed))
    record_part = build_part(request, **view.record())
    parts = [status_part, actions_part, record_part]
    context = {
        "r": obj,
        "status_live": mark_safe(status_part.html),  # our own templates, escaped there
        "actions_live": mark_safe(actions_part.html),
        "record_live": mark_safe(record_part.html),
        "poller": mark_safe(page_poller("request-live", reverse("request-live", args=[pk]), parts)),
    }
    return page(request, "web/request.html", context, status=status)


@never_cache  # a poll answered from a cache would freeze the page
@login_required
def request_live(request: HttpRequest, pk: int) -> HttpResponse:
    return answer_page_poll(request, pk)


@never_cache  # a poll answered from a cache would freeze the page
@login_required
def request_status(request, pk: int):
    return answer_poll(request, pk, "status")


@never_cache  # a poll answered from a cache would freeze the page
@login_required
def request_actions(request, pk: int):
    return answer_poll(request, pk, "actions")


@never_cache  # a poll answered from a cache would freeze the page
@login_required
def request_record(request, pk: int):
    return answer_poll(request, pk, "record")


def _failed(form: ActionForm) -> dict:
    post = form.data
    key = Action(
        post.get("kind", ""),
        "",
        post.get("role", ""),
        post.get("veto_id") or None,
        check_id=post.get("check_id") or None,
    ).key
    errors = {name: list(errors) for name, errors in form.errors.items()}
    return {
        "key": key,
        "non_field": errors.pop("__all__", []),
        "errors": errors,
        "comment": post.get("comment", ""),
        "secret_name": post.get("secret_name", ""),
        "rotated_at": post.get("rotated_at", ""),
    }


def _act(request, obj: FailoverRequest):
    """Carry out one posted action through the services layer. A redirect when done, else
    (status, details of the failed form) for the re-rendered page."""
    form = ActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was done: check the form below.")
        return 400, _failed(form)
    data = form.cleaned_data
    kind = data["kind"]
    proof = None
    if kind in STEP_UP_ACTS:
        try:
            proof = confirm_act(
                request, kind, target=f"request:{obj.pk}", plan_hash=data["plan_hash"]
            )
        except StepUpError as exc:
            form.add_error("password", exc.message)
            messages.error(request, f"Nothing was done: {exc.message}.")
            return (429 if exc.locked else 400), _failed(form)
    if kind == "execute" and data["plan_hash"] and data["plan_hash"] != obj.plan_hash:
        messages.error(
            request, "Nothing was done: the plan changed since you loaded the page; review it."
        )
        return 409, _failed(form)
    try:
        with carrying(proof):
            _call_service(request.user, obj, data, proof)
    except InvalidInput as exc:
        for field, message in exc.fields.items():
            form.add_error(field if field in form.fields else None, message)
        messages.error(request, f"Nothing was done: {exc.message}.")
        return status_for(exc), _failed(form)
    except ServiceError as exc:
        messages.error(request, f"Nothing was done: {exc.message}.")
        return status_for(exc), _failed(form)
    messages.success(request, _done(kind, data, obj))
    state = FailoverRequest.objects.filter(pk=obj.pk).values_list("state", flat=True).first()
    if kind in KINDS and state == "executing":
        messages.info(request, "That completed the approvals: the DNS change is being applied.")
    return redirect("request-page", obj.pk)


def _call_service(user, obj: FailoverRequest, data: dict, proof) -> None:
    kind = data["kind"]
    if kind in KINDS:
        record_decision(
            actor=user,
            request_id=obj.pk,
            kind=kind,
            role=data["role"],
            plan_hash=data["plan_hash"],
            comment=data["comment"],
            channel="web",
            veto_id=data["veto_id"],
            step_up=proof,
        )
    elif kind == "execute":
        execute_request(
            actor=user, request_id=obj.pk, channel="web", plan_hash=data["plan_hash"] or None
        )
    elif kind == "rollback":
        rollback_request(actor=user, request_id=obj.pk, reason=data["comment"], channel="web")
    elif kind == "cancel":
        cancel_request(actor=user, request_id=obj.pk, reason=data["comment"])
    elif kind == "lift_system_veto":
        if not obj.readiness_checks.filter(pk=data["check_id"]).exists():
            raise NotFound("no such readiness check on this request")
        lift_system_veto(actor=user, check_id=data["check_id"], reason=data["comment"])
    elif kind == "recheck":
        request_readiness_checks(actor=user, request_id=obj.pk)
    elif kind == "replan":
        replan_request(actor=user, request_id=obj.pk, reason=data["comment"], channel="web")
    elif kind == "attest":
        attest_secret(
            actor=user,
            target=obj.to_target,
            secret_name=data["secret_name"],
            rotated_at=data["rotated_at"],
            comment=data["comment"],
        )
        request_readiness_checks(actor=user, request_id=obj.pk)


def _done(kind: str, data: dict, obj: FailoverRequest) -> str:
    if kind == "replan":
        return replanned_message(obj)
    if kind in KINDS:
        role = ROLE_NAMES.get(data["role"], data["role"])
        return KINDS[kind].done.format(role=role, plan=obj.plan_hash[:12])
    return {
        "execute": "Executing: the DNS change is on its way.",
        "rollback": "Rolling back: the previous records are being restored.",
        "cancel": "The request is cancelled.",
        "lift_system_veto": "The system veto is lifted; your reason is in the audit log. "
        "Nothing was executed: moving traffic is a separate act.",
        "recheck": "The readiness checks are running; results appear here in a few seconds.",
        "attest": "Attestation recorded; the readiness checks are running again.",
    }[kind]
