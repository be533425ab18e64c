"""Break-glass in the browser: the form that shows what is being skipped and executes, and the
post-incident review of a use. The rules are in approvals.breakglass; refusals come back here
as messages on the same form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect

from approvals.breakglass import (
    MAX_TEXT,
    NAMED_BLOCKS,
    break_glass,
    record_review,
    standing_blocks,
    uses_for,
)
from approvals.selectors import decision_facts, policy_of, verdict_for
from failover.chain import authorities_of, authority_chain
from failover.errors import InvalidInput, ServiceError
from failover.models import FailoverRequest
from failover.plans import plan_rows
from failover.states import OPEN_STATES
from failover.web.access import login_required, request_or_404, visible_service_ids
from failover.web.errors import status_for
from failover.web.forms import missing_step_up, refuse_not_cut
from failover.web.present import missing_rows
from failover.web.stepup import StepUpError, confirm_act
from failover.web.views.common import page
from identity.stepup import carrying, evidence_from


class BreakGlassForm(forms.Form):
    """Shape only: the services layer judges the justifications (and says what to name)."""

    justification = forms.CharField(
        label="Justification",
        max_length=MAX_TEXT,
        error_messages={"required": "say why the normal approvals cannot be waited for"},
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Why the normal approvals cannot be waited for. It is announced to everyone "
        "whose approval is skipped and kept in the audit log.",
    )
    veto_justification = forms.CharField(
        label="Why you override the standing veto",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Name each veto: the vetoer's username, or the failing check's kind.",
    )
    plan_hash = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    # One of the step-up fields (identity/_step_up.html): a password, a passkey answer, ...
    password = forms.CharField(
        label="Your password, to confirm it is you",
        required=False,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean(self):
        data = super().clean()
        if not evidence_from(self.data):
            self.add_error("password", missing_step_up(self.data))
        return data

    def __init__(self, *args, veto_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Shown (and marked required) only while a veto stands; the services layer checks
        # that it names each one.
        self.fields["veto_justification"].required = veto_required
        self.fields["veto_justification"].error_messages["required"] = (
            "a veto stands: say why you override it, naming it"
        )
        refuse_not_cut(self)


class ReviewForm(forms.Form):
    comment = forms.CharField(
        label="Your review",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Was breaking the glass justified? What should change so it is not needed?",
        error_messages={"required": "say what you found"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        refuse_not_cut(self)


def _blocks(obj: FailoverRequest, verdict) -> list[dict]:
    return standing_blocks(obj, verdict) if obj.state in OPEN_STATES else []


def _context(request, obj: FailoverRequest, form: BreakGlassForm) -> dict:
    verdict = verdict_for(obj)
    blocks = _blocks(obj, verdict)
    authorities = authorities_of(request.user, obj.service)
    return {
        "r": obj,
        "form": form,
        "open": obj.state in OPEN_STATES,
        "holds": "break_glass" in authorities,
        "missing": missing_rows(obj, verdict, authority_chain(obj.service), decision_facts(obj)),
        "vetoes": [b for b in blocks if b["kind"] == "veto"],
        "system_vetoes": [b for b in blocks if b["kind"] == "system_veto"],
        "other_blocks": [b for b in blocks if b["kind"] not in NAMED_BLOCKS],
        "needs_veto_justification": any(b["kind"] in NAMED_BLOCKS for b in blocks),
        "plan_rows": plan_rows(obj.plan),
        "minutes": policy_of(obj.service).break_glass_minutes,
        "uses": list(uses_for(request.user, service_ids={obj.service_id}).filter(request=obj)),
    }


@login_required
def break_glass_page(request, pk: int):
    obj = request_or_404(request, pk)
    status = 200
    veto_required = any(b["kind"] in NAMED_BLOCKS for b in _blocks(obj, verdict_for(obj)))
    if request.method == "POST":
        form = BreakGlassForm(request.POST, veto_required=veto_required)
        outcome = _break(request, obj, form)
        if not isinstance(outcome, int):
            return outcome
        status = outcome
        obj = request_or_404(request, pk)  # show the state as it is now
    else:
        form = BreakGlassForm(initial={"plan_hash": obj.plan_hash}, veto_required=veto_required)
    context = _context(request, obj, form)
    if request.method == "GET" and not context["holds"]:
        status = 403
    return page(request, "web/break_glass.html", context, status=status)


def _break(request, obj: FailoverRequest, form: BreakGlassForm):
    """A redirect to the request when the glass is broken, else the status to re-render with."""
    if not form.is_valid():
        messages.error(request, "Nothing was done: check the form below.")
        return 400
    data = form.cleaned_data
    try:
        proof = confirm_act(
            request, "break_glass", target=f"request:{obj.pk}", plan_hash=data["plan_hash"]
        )
    except StepUpError as exc:
        form.add_error("password", exc.message)
        messages.error(request, f"Nothing was done: {exc.message}.")
        return 429 if exc.locked else 400
    try:
        with carrying(proof):
            use = break_glass(
                actor=request.user,
                request_id=obj.pk,
                justification=data["justification"],
                veto_justification=data["veto_justification"],
                plan_hash=data["plan_hash"],
                channel="web",
            )
    except InvalidInput as exc:
        for field, message in exc.fields.items():
            form.add_error(field if field in form.fields else None, message)
        messages.error(request, f"Nothing was done: {exc.message}.")
        return 400
    except ServiceError as exc:
        messages.error(request, f"Nothing was done: {exc.message}.")
        return status_for(exc)
    messages.success(
        request,
        f"Glass broken: executing now. Your grant lets you roll back until "
        f"{use.expires_at:%H:%M} UTC; the use awaits review by two other people.",
    )
    return redirect("request-page", obj.pk)


def _use_or_404(request, pk: int):
    use = uses_for(request.user, service_ids=visible_service_ids(request)).filter(pk=pk).first()
    if use is None:
        raise Http404("no such break-glass use")
    return use


@login_required
def review_page(request, pk: int):
    use = _use_or_404(request, pk)
    status = 200
    form = ReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, "Nothing was recorded: check the form below.")
            status = 400
        else:
            try:
                record_review(
                    actor=request.user, break_glass_id=use.pk, comment=form.cleaned_data["comment"]
                )
            except InvalidInput as exc:
                for field, message in exc.fields.items():
                    form.add_error(field if field in form.fields else None, message)
                messages.error(request, f"Nothing was recorded: {exc.message}.")
                status = 400
            except ServiceError as exc:
                messages.error(request, f"Nothing was recorded: {exc.message}.")
                status = status_for(exc)
            else:
                messages.success(request, "Your review is recorded.")
                return redirect("break-glass-review", use.pk)
    reviews = list(use.reviews.all())
    mine = any(r.reviewer_id == request.user.pk for r in reviews)
    context = {
        "use": use,
        "r": use.request,
        "reviews": reviews,
        "form": form,
        "own": use.actor_id == request.user.pk,
        "reviewed": mine,
    }
    return page(request, "web/break_glass_review.html", context, status=status)
