"""The person's authenticator apps (/account/totp/) and recovery codes
(/account/recovery-codes/). The rules are in identity/codes.py.

Adding an app, removing one and new recovery codes each need a step-up bound to the act;
a person with no way to confirm yet adds their first one within a few minutes of signing in
(identity/sessions.py). Secrets and codes appear only in the answer that shows them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from failover.web.access import login_required
from failover.web.views.common import page
from identity import codes
from identity.sessions import signed_in_recently
from identity.stepup import Binding, StepUpError, confirm, evidence_from, methods_for

PENDING = "identity.totp_pending"  # session key: the unconfirmed device being enrolled


class AddForm(forms.Form):
    name = forms.CharField(
        label="Name of the app or phone",
        max_length=64,
        help_text="e.g. work phone: it tells your apps apart on this page",
    )


class ConfirmForm(forms.Form):
    code = forms.CharField(
        label="The 6-digit code your app shows now",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


def _gate(request, act: str, target: str):
    """The step-up for `act`, or None for a first method right after signing in."""
    user = request.user
    if methods_for(user):
        return confirm(user, Binding(act, target), evidence_from(request.POST))
    if signed_in_recently(request, codes.FIRST_METHOD_SIGN_IN_MINUTES):
        return None
    raise StepUpError(
        f"to add your first way to confirm it is you, sign out and sign in again, then add it "
        f"within {codes.FIRST_METHOD_SIGN_IN_MINUTES} minutes",
        code="sign_in_again",
    )


def _status(exc: StepUpError) -> int:
    if exc.locked:
        return 429
    return 403 if exc.code == "sign_in_again" else 400


def step_up_context(request, act: str, target: str) -> dict:
    """What templates/identity/codes_step_up.html needs for a form confirming `act`."""
    return {
        "act": act,
        "target": target,
        "first": not methods_for(request.user),
        "minutes": codes.FIRST_METHOD_SIGN_IN_MINUTES,
    }


def _render_totp(request, form=None, *, status=200):
    user = request.user
    devices = [
        {
            "device": d,
            "step_up": step_up_context(request, codes.REMOVE_TOTP, codes.device_target(d)),
        }
        for d in codes.totp_devices(user)
    ]
    return page(
        request,
        "identity/codes_totp.html",
        {
            "devices": devices,
            "form": form or AddForm(),
            "step_up": step_up_context(request, codes.ADD_TOTP, codes.user_target(user)),
        },
        status=status,
    )


@login_required
def totp_page(request):
    """GET: the person's apps. POST: start adding one (the QR code comes next)."""
    if request.method != "POST":
        return _render_totp(request)
    form = AddForm(request.POST)
    if not form.is_valid():
        return _render_totp(request, form, status=400)
    try:
        _gate(request, codes.ADD_TOTP, codes.user_target(request.user))
    except StepUpError as exc:
        messages.error(request, exc.message)
        return _render_totp(request, form, status=_status(exc))
    device = codes.start_totp(request.user, form.cleaned_data["name"])
    request.session[PENDING] = device.pk
    return redirect("account-totp-confirm")


def _render_confirm(request, device, form=None, *, status=200):
    return page(
        request,
        "identity/codes_totp_confirm.html",
        {
            "device": device,
            "form": form or ConfirmForm(),
            "qr": codes.qr_svg(device),
            "secret": codes.secret_text(device),
            "minutes": int(codes.PENDING_MAX_AGE.total_seconds() // 60),
        },
        status=status,
    )


@login_required
def totp_confirm(request):
    """Scan the QR code, then type the first code: only then the app counts."""
    device = codes.pending_totp(request.user, request.session.get(PENDING))
    if device is None:
        messages.error(request, "No app is being added (or it took too long): start again.")
        return _render_totp(request, status=404 if request.method == "POST" else 200)
    if request.method != "POST":
        return _render_confirm(request, device)
    form = ConfirmForm(request.POST)
    if not form.is_valid() or not codes.confirm_totp(
        device, form.cleaned_data["code"], actor=request.user
    ):
        messages.error(
            request,
            "That code did not match: check the app's clock and type the code it shows now.",
        )
        return _render_confirm(request, device, form, status=400)
    request.session.pop(PENDING, None)
    messages.success(request, f"Authenticator app {device.name} added.")
    if not codes.recovery_available(request.user):
        # A first method: recovery codes now, for the day the phone is lost.
        new = codes.generate_recovery_codes(request.user, actor=request.user)
        return _render_recovery(request, new_codes=new)
    return redirect("account-totp")


@login_required
@require_POST
def totp_remove(request, pk: int):
    device = codes.totp_devices(request.user).filter(pk=pk).first()
    if device is None:
        raise Http404("no such authenticator app of yours")
    try:
        confirm(
            request.user,
            Binding(codes.REMOVE_TOTP, codes.device_target(device)),
            evidence_from(request.POST),
        )
    except StepUpError as exc:
        messages.error(request, exc.message)
        return _render_totp(request, status=_status(exc))
    codes.remove_totp(device, actor=request.user)
    messages.success(request, f"Authenticator app {device.name} removed.")
    return redirect("account-totp")


def _render_recovery(request, *, new_codes=None, status=200):
    user = request.user
    return page(
        request,
        "identity/codes_recovery.html",
        {
            "new_codes": new_codes,
            "left": codes.recovery_left(user),
            "total": codes.RECOVERY_COUNT,
            "generated_at": codes.recovery_generated_at(user),
            "step_up": step_up_context(request, codes.NEW_RECOVERY_CODES, codes.user_target(user)),
        },
        status=status,
    )


@login_required
def recovery_page(request):
    """GET: how many codes are left. POST: ten new codes (the old ones stop working)."""
    if request.method != "POST":
        return _render_recovery(request)
    try:
        _gate(request, codes.NEW_RECOVERY_CODES, codes.user_target(request.user))
    except StepUpError as exc:
        messages.error(request, exc.message)
        return _render_recovery(request, status=_status(exc))
    new = codes.generate_recovery_codes(request.user, actor=request.user)
    return _render_recovery(request, new_codes=new)
