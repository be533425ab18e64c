"""The person's API tokens page (/account/tokens/): list their tokens, mint one (the secret is
shown once, on the answer to the POST, never stored), rotate, revoke, renew a token's step-up.

The rules are in approvals/tokens.py; this page asks for the step-up they need (a token that
can decide, execute or roll back; renewing) with identity.stepup, and shows their refusals."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from approvals.models import ApiToken
from approvals.tokens import (
    MINT_ACT,
    RENEW_ACT,
    check_renewable,
    create_token,
    is_acting,
    is_service_account,
    max_lifetime,
    mint_target,
    renew_step_up,
    renew_target,
    revoke_token,
    rotate_token,
    step_up_max_age,
)
from failover.chain import services_with_authority
from failover.errors import ServiceError
from failover.models import Service
from failover.web.access import login_required
from failover.web.views.common import page
from identity.stepup import Binding, StepUpError, confirm, evidence_from, methods_for

ACTION_HELP = {
    "read": "read services, requests and reports",
    "declare": "declare failovers",
    "decide": "approve, veto, sign off",
    "execute": "execute (and break glass)",
    "rollback": "roll back",
    "cancel": "cancel requests",
    "audit": "read and export the audit log",
    "configure": "register services",
}
NEVER = 24 * 365  # hours a token that cannot act may be given at most on the page


class MintForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="e.g. laptop CLI, on-call")
    actions = forms.MultipleChoiceField(
        label="Actions",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Choose none for every action. Decide, execute and roll back make the token "
        "personal and short-lived, and need you to confirm it is you.",
    )
    services = forms.MultipleChoiceField(
        label="Services",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Choose none for every service you hold authority on.",
    )
    lifetime_hours = forms.IntegerField(
        label="Lifetime (hours)",
        min_value=1,
        max_value=NEVER,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = ApiToken.ACTIONS
        if is_service_account(user):
            allowed = ApiToken.SERVICE_ACCOUNT_ACTIONS
        self.fields["actions"].choices = [(a, f"{a}: {ACTION_HELP[a]}") for a in allowed]
        ids = services_with_authority(user)
        self.services = {s.slug: s for s in Service.objects.filter(pk__in=ids).order_by("slug")}
        self.fields["services"].choices = [(s.slug, s.name) for s in self.services.values()]
        hours = int(max_lifetime().total_seconds() // 3600)
        self.fields["lifetime_hours"].initial = hours
        self.fields[
            "lifetime_hours"
        ].help_text = f"A token that can decide, execute or roll back lives at most {hours} h."


def _step_up(request, act: str, target: str):
    return confirm(request.user, Binding(act, target), evidence_from(request.POST))


def _own(request, prefix: str) -> ApiToken:
    token = ApiToken.objects.filter(user=request.user, prefix=prefix).first()
    if token is None:
        raise Http404("no such token of yours")
    return token


def _render(request, form=None, *, secret=None, secret_token=None, status=200):
    user = request.user
    tokens = list(
        ApiToken.objects.filter(user=user)
        .select_related("rotated_from")
        .prefetch_related("services")
        .order_by("-created_at", "-id")
    )
    now = timezone.now()
    max_age = step_up_max_age()
    rows = [
        {
            "token": t,
            "actions": t.actions or ["every action"],
            "services": [s.slug for s in t.services.all()] or ["every service of yours"],
            "acting": is_acting(t.actions) and not is_service_account(user),
            "live": t.revoked_at is None and (t.expires_at is None or t.expires_at > now),
            "step_up_until": t.stepped_up_at + max_age if t.stepped_up_at else None,
            "step_up_fresh": bool(t.stepped_up_at and t.stepped_up_at > now - max_age),
        }
        for t in tokens
    ]
    methods = methods_for(user)
    return page(
        request,
        "identity/tokens.html",
        {
            "rows": rows,
            "form": form or MintForm(user=user),
            "secret": secret,
            "secret_token": secret_token,
            "password_step_up": "password" in methods,
            "totp_step_up": "totp" in methods,
            "no_step_up": not methods,
            "mint_act": MINT_ACT,
            "mint_target": mint_target(user),
            "renew_act": RENEW_ACT,
            "max_hours": int(max_lifetime().total_seconds() // 3600),
            "step_up_minutes": int(max_age.total_seconds() // 60),
            "service_account": is_service_account(user),
        },
        status=status,
    )


def _refused(request, exc: Exception) -> None:
    fields = getattr(exc, "fields", None) or {}
    if fields:
        for message in fields.values():
            messages.error(request, message)
    else:
        messages.error(request, getattr(exc, "message", str(exc)))


@login_required
def tokens_page(request):
    if request.method != "POST":
        return _render(request)
    form = MintForm(request.POST, user=request.user)
    if not form.is_valid():
        return _render(request, form, status=400)
    data = form.cleaned_data
    proof = None
    try:
        if is_acting(data["actions"]) and not is_service_account(request.user):
            proof = _step_up(request, MINT_ACT, mint_target(request.user))
        token, plain = create_token(
            user=request.user,
            created_by=request.user,
            name=data["name"],
            actions=data["actions"],
            services=[form.services[slug] for slug in data["services"]],
            expires_at=timezone.now() + timedelta(hours=data["lifetime_hours"]),
            step_up=proof,
        )
    except (StepUpError, ServiceError) as exc:
        _refused(request, exc)
        return _render(request, form, status=429 if getattr(exc, "locked", False) else 400)
    messages.success(request, f"Token {token.name} ({token.prefix}) created.")
    return _render(request, secret=plain, secret_token=token)


@login_required
@require_POST
def rotate(request, prefix: str):
    token = _own(request, prefix)
    try:
        proof = None
        if is_acting(token.actions) and not is_service_account(request.user):
            proof = _step_up(request, MINT_ACT, mint_target(request.user))
        new, plain = rotate_token(token=token, actor=request.user, step_up=proof)
    except (StepUpError, ServiceError) as exc:
        _refused(request, exc)
        return _render(request, status=429 if getattr(exc, "locked", False) else 400)
    messages.success(request, f"Token {token.prefix} revoked; its replacement is {new.prefix}.")
    return _render(request, secret=plain, secret_token=new)


@login_required
@require_POST
def revoke(request, prefix: str):
    token = revoke_token(token=_own(request, prefix), actor=request.user)
    messages.success(request, f"Token {token.name} ({token.prefix}) revoked.")
    return redirect("account-tokens")


@login_required
@require_POST
def step_up(request, prefix: str):
    token = _own(request, prefix)
    try:
        check_renewable(token)
        proof = _step_up(request, RENEW_ACT, renew_target(token))
        renew_step_up(token=token, step_up=proof)
    except (StepUpError, ServiceError) as exc:
        _refused(request, exc)
        return _render(request, status=429 if getattr(exc, "locked", False) else 400)
    minutes = int(step_up_max_age().total_seconds() // 60)
    messages.success(
        request, f"Token {token.prefix} stepped up: its human acts count for {minutes} min."
    )
    return redirect("account-tokens")
