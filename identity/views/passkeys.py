"""Passkey enrolment, renaming and removal on the security page, and the step-up challenge the
browser asks for before navigator.credentials.get (stepup.js)."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from audit.actions import IDENTITY_PASSKEY_REMOVED, IDENTITY_PASSKEY_RENAMED
from audit.services import record_event
from failover.web.access import login_required
from failover.web.views.common import page
from identity import passkeys
from identity.models import Passkey
from identity.sessions import signed_in_recently
from identity.stepup import Binding, StepUpError, confirm, evidence_from, methods_for
from identity.views.security import security_context

FIRST_PASSKEY_SIGN_IN_MINUTES = 10  # a first passkey needs a sign-in this recent
FIELD_LIMITS = {"act": 30, "target": 100, "plan_hash": 64}
NAME_LIMIT = 100


def _refused(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def binding_from(data) -> Binding:
    """The binding a challenge is asked for; ValueError with a reason if it is malformed."""
    values = {}
    for name, limit in FIELD_LIMITS.items():
        value = data.get(name, "")
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise ValueError(f"{name} must be text of at most {limit} characters")
        values[name] = value
    if not values["act"]:
        raise ValueError("say which act to confirm (act)")
    return Binding(values["act"], values["target"], values["plan_hash"])


@login_required
@require_POST
def step_up_challenge(request):
    """POST act, target, plan_hash -> {challenge, publicKey} for navigator.credentials.get."""
    try:
        binding = binding_from(request.POST)
        return JsonResponse(passkeys.authentication_options(request.user, binding))
    except ValueError as exc:
        return _refused(str(exc))
    except StepUpError as exc:
        return _refused(exc.message)


@login_required
@require_POST
def registration_options(request):
    """Options for navigator.credentials.create (the gate is checked when the answer comes)."""
    return JsonResponse({"publicKey": passkeys.registration_options(request)})


def _name(value) -> str:
    return " ".join(str(value or "").split())[:NAME_LIMIT]


def _rerender(request, status: int, **extra):
    context = security_context(request, **extra)
    return page(request, "identity/security.html", context, nav="security", status=status)


@login_required
@require_POST
def add_passkey(request):
    """Keep the new passkey: with a step-up when the person can already confirm, else with a
    sign-in of the last ten minutes (someone at an unlocked session cannot add their own key)."""
    user = request.user
    name = _name(request.POST.get("name")) or "Passkey"
    if methods_for(user):
        try:
            proof = confirm(
                user, Binding("add_passkey", f"user:{user.pk}"), evidence_from(request.POST)
            )
        except StepUpError as exc:
            messages.error(request, f"No passkey was added: {exc.message}.")
            return _rerender(request, 429 if exc.locked else 400, add_errors=[exc.message])
        request.passkey_step_up = proof.summary()
    elif not signed_in_recently(request, FIRST_PASSKEY_SIGN_IN_MINUTES):
        message = "to add your first passkey, sign out and sign in again, then add it at once"
        messages.error(request, f"No passkey was added: {message}.")
        return _rerender(request, 403, add_errors=[message])
    try:
        passkey = passkeys.register(request, request.POST.get("attestation", ""), name)
    except StepUpError as exc:
        messages.error(request, f"No passkey was added: {exc.message}.")
        return _rerender(request, 400, add_errors=[exc.message])
    messages.success(request, f"Passkey “{passkey.name}” added: use it to confirm acts.")
    return redirect("identity-security")


def _own(request, pk: int) -> Passkey | None:
    return Passkey.objects.filter(user=request.user, pk=pk).first()


@login_required
@require_POST
def rename_passkey(request, pk: int):
    passkey = _own(request, pk)
    name = _name(request.POST.get("name"))
    if passkey is None:
        return _rerender(request, 404)
    if not name:
        messages.error(request, "Nothing was renamed: give the passkey a name.")
        return _rerender(request, 400)
    old, passkey.name = passkey.name, name
    passkey.save(update_fields=["name"])
    record_event(
        action=IDENTITY_PASSKEY_RENAMED,
        obj=passkey,
        data={"user": request.user.get_username(), "from": old, "to": name},
    )
    messages.success(request, f"Passkey renamed to “{name}”.")
    return redirect("identity-security")


@login_required
@require_POST
def remove_passkey(request, pk: int):
    """Remove one of the person's passkeys. Removing the last way to confirm is allowed (a
    lost key), and said: acts that need a step-up are refused until they add one again."""
    passkey = _own(request, pk)
    if passkey is None:
        return _rerender(request, 404)
    record_event(
        action=IDENTITY_PASSKEY_REMOVED,
        obj=passkey,
        data={
            "user": request.user.get_username(),
            "name": passkey.name,
            "credential_id": passkey.credential_id,
        },
    )
    passkey.delete()
    messages.success(request, f"Passkey “{passkey.name}” removed: it no longer confirms acts.")
    if not methods_for(request.user):
        messages.warning(
            request,
            "You now have no way to confirm it is you: approving, executing and other acts "
            "that move traffic are refused until you add a passkey or an authenticator app.",
        )
    return redirect("identity-security")
