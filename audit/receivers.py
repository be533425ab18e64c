"""Sign-ins and failed sign-ins are evidence too (who was at the console, and who tried)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.actions import AUTH_SIGN_IN_FAILED, AUTH_SIGNED_IN, AUTH_SIGNED_OUT
from audit.services import record_event
from failover.clients import client_address


def _client(request) -> dict:
    if request is None:
        return {}
    return {
        "ip": client_address(request),  # the client's, not our proxy's
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
    }


@receiver(user_logged_in, dispatch_uid="audit.sign_in")
def _signed_in(sender, request, user, **kwargs):
    record_event(action=AUTH_SIGNED_IN, obj=user, actor=user, data=_client(request))


@receiver(user_logged_out, dispatch_uid="audit.sign_out")
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        record_event(action=AUTH_SIGNED_OUT, obj=user, actor=user, data=_client(request))


@receiver(user_login_failed, dispatch_uid="audit.sign_in_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password with asterisks; keep only the username.
    username = str(credentials.get("username", ""))[:150]
    record_event(
        action=AUTH_SIGN_IN_FAILED,
        object_type="auth.user",
        object_id=username,
        actor=None,
        data={"username": username, **_client(request)},
    )
