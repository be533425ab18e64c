"""When this session signed in: enrolling a first way to confirm it is you (an authenticator
app, a passkey) needs a sign-in within the last few minutes, since there is nothing else yet
to confirm with. Recorded on `user_logged_in` (connected in identity/apps.py)."""

from __future__ import annotations

import time

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.dispatch import receiver
from django.utils import timezone

SIGNED_IN_AT = "identity.signed_in_at"  # session key: epoch seconds of the sign-in


@receiver(user_logged_in, dispatch_uid="identity.signed_in_at")
def _remember_sign_in(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is not None:
        session[SIGNED_IN_AT] = int(time.time())


def signed_in_recently(request, minutes: int = 10) -> bool:
    """Whether this session's sign-in was within the last `minutes`."""
    at = request.session.get(SIGNED_IN_AT)
    return isinstance(at, int) and 0 <= time.time() - at <= minutes * 60


def end_sessions(user) -> int:
    """Sign the person out everywhere (the database session store): after their credentials
    were reset, a session on a lost or stolen device must not go on. How many ended."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        if data.get(SESSION_KEY) == str(user.pk) and HASH_SESSION_KEY in data:
            ended.append(session.pk)
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)
