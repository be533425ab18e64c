"""Single sign-on through the organisation's OpenID Connect provider.

mozilla-django-oidc runs the authorization code flow (with PKCE, state and nonce); this module
gives it the provider's endpoints from discovery (fetched on first use, so a provider that is
down at start-up stops nobody) and decides who signs in:

- a person is their (issuer, subject) at the provider (ExternalIdentity): never matched by
  username or email, so nobody at the provider can take over a local account by naming it;
- the first sign-in creates the user (username from preferred_username, made unique) with an
  unusable password;
- at every sign-in the product groups named in OIDC_GROUP_MAP's values are set to exactly the
  groups the provider's claim maps to (other groups are left alone): a person the organisation
  removed from a group loses its authorities, and approvals/receivers.py voids their open
  decisions (invariant 14);
- service accounts never sign in this way: a human act needs a human.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from audit.actions import IDENTITY_GROUPS_SYNCED, IDENTITY_SIGNED_IN
from audit.context import acting_as
from audit.services import record_event
from failover.clients import client_address
from identity.models import ExternalIdentity

_lock = threading.Lock()
_discovery: dict[str, dict] = {}  # issuer -> discovery document, for the life of the process
_jwks: dict[str, dict] = {}  # jwks_uri -> {kid: PyJWK}


class ProviderUnavailable(Exception):
    """The provider could not be asked (down, slow, or it answered nonsense)."""


class SignInRefused(Exception):
    """The provider vouched for someone who may not sign in here; the message says why."""


def configured() -> bool:
    return bool(settings.OIDC_ISSUER)


def issuer() -> str:
    return settings.OIDC_ISSUER.rstrip("/")


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME or "your identity provider"


def _why(exc: Exception) -> str:
    """A short reason for the person (the full one is in the log)."""
    if isinstance(exc, requests.Timeout):
        return f"{provider_name()} did not answer in {settings.OIDC_TIMEOUT:g} s"
    if isinstance(exc, requests.ConnectionError):
        return f"{provider_name()} could not be reached"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"{provider_name()} answered HTTP {exc.response.status_code}"
    return f"{provider_name()} answered something that is not JSON"


def _get_json(url: str, **kwargs) -> dict:
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, **kwargs)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(_why(exc)) from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{provider_name()} answered {url} with something else")
    return data


def discovery() -> dict:
    """The provider's discovery document, fetched once per process (a failure is not kept)."""
    iss = issuer()
    with _lock:
        if iss in _discovery:
            return _discovery[iss]
    doc = _get_json(f"{iss}/.well-known/openid-configuration")
    if doc.get("issuer", "").rstrip("/") != iss:
        raise ProviderUnavailable(f"the discovery document of {iss} names another issuer")
    needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    if missing := [name for name in needed if not doc.get(name)]:
        raise ProviderUnavailable(f"the discovery document of {iss} lacks {', '.join(missing)}")
    with _lock:
        _discovery[iss] = doc
    return doc


def _signing_key(token: str) -> jwt.PyJWK:
    uri = discovery()["jwks_uri"]
    kid = jwt.get_unverified_header(token).get("kid", "")
    with _lock:
        key = _jwks.get(uri, {}).get(kid)
    if key is None:  # first use, or the provider rotated its keys
        keys = {}
        for jwk in _get_json(uri).get("keys", []):
            try:
                keys[jwk.get("kid", "")] = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue  # a key type we do not use
        with _lock:
            _jwks[uri] = keys
        key = keys.get(kid)
    if key is None:
        raise SignInRefused("the provider's token is signed with a key it does not publish")
    return key


def check_id_token(token: str, nonce: str | None) -> dict:
    """The claims of an ID token, once its signature (RS256, from the provider's JWKS), issuer,
    audience (our client id), expiry and nonce are right; else SignInRefused."""
    if not token:
        raise SignInRefused("the provider sent no ID token")
    try:
        claims = jwt.decode(
            token,
            _signing_key(token).key,
            algorithms=["RS256"],
            audience=settings.OIDC_CLIENT_ID,
            issuer=issuer(),
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise SignInRefused(f"the provider's ID token is not valid: {exc}") from exc
    if nonce is not None and claims.get("nonce") != nonce:
        raise SignInRefused("the provider's ID token answers another sign-in (nonce)")
    return claims


def token_endpoint_post(data: dict) -> dict:
    """POST to the token endpoint with our client's credentials; the JSON answer."""
    try:
        response = requests.post(
            discovery()["token_endpoint"],
            data={
                **data,
                "client_id": settings.OIDC_CLIENT_ID,
                "client_secret": settings.OIDC_CLIENT_SECRET,
            },
            timeout=settings.OIDC_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(_why(exc)) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        reason = (
            body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        )
        raise SignInRefused(f"{provider_name()} refused the sign-in: {reason}")
    return body


# --- the backend ------------------------------------------------------------------------------


BACKEND_PATH = "identity.oidc.Backend"


class Backend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, matching people by (issuer, subject)."""

    def __init__(self, *args, **kwargs):
        # Django builds a backend for every request of a signed-in person (get_user): the
        # provider is asked nothing until someone actually signs in through it.
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        # Only the OIDC callback passes a nonce: password sign-ins pass through untouched.
        if request is None or "nonce" not in kwargs or not configured():
            return None
        doc = discovery()
        self.OIDC_OP_TOKEN_ENDPOINT = doc["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = doc.get("userinfo_endpoint", "")
        self.OIDC_OP_JWKS_ENDPOINT = doc["jwks_uri"]
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        return check_id_token(token, kwargs.get("nonce"))

    def get_token(self, payload):
        return token_endpoint_post(
            {k: v for k, v in payload.items() if k not in ("client_id", "client_secret")}
        )

    def get_userinfo(self, access_token, id_token, payload):
        if not self.OIDC_OP_USER_ENDPOINT:
            return {}
        info = _get_json(
            self.OIDC_OP_USER_ENDPOINT, headers={"Authorization": f"Bearer {access_token}"}
        )
        if info.get("sub") != payload.get("sub"):  # OIDC Core 5.3.2: must be the same person
            raise SignInRefused("the provider's userinfo names another person")
        return info

    def get_or_create_user(self, access_token, id_token, payload):
        claims = {**payload, **self.get_userinfo(access_token, id_token, payload)}
        return sign_in_from_claims(claims, self.request)


def sign_in_from_claims(claims: dict, request=None):
    """The user the provider vouched for, created on first sign-in, groups synced; audited."""
    iss, subject = issuer(), str(claims["sub"])
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise SignInRefused(f"the provider's {settings.OIDC_GROUPS_CLAIM!r} claim is not a list")
    with transaction.atomic():
        link = (
            ExternalIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=iss, subject=subject)
            .first()
        )
        created = link is None
        if created:
            user = _create_user(claims)
            link = ExternalIdentity.objects.create(user=user, issuer=iss, subject=subject)
        user = link.user
        if hasattr(user, "service_account"):
            raise SignInRefused(f"{user.username} is a service account: it never signs in")
        if not user.is_active:
            raise SignInRefused(f"{user.username} is disabled here: ask an administrator")
        with acting_as(user):
            added, removed = sync_groups(user, groups)
            link.groups = groups
            link.last_sign_in_at = timezone.now()
            link.save(update_fields=["groups", "last_sign_in_at"])
            if added or removed:
                record_event(
                    action=IDENTITY_GROUPS_SYNCED,
                    obj=user,
                    data={"issuer": iss, "subject": subject, "added": added, "removed": removed},
                )
            record_event(
                action=IDENTITY_SIGNED_IN,
                obj=user,
                data={
                    "method": "oidc",
                    "issuer": iss,
                    "subject": subject,
                    "created": created,
                    "provider_groups": groups,
                    "ip": client_address(request),
                },
            )
    return user


def _create_user(claims: dict):
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", str(claims.get("preferred_username") or ""))[:140]
    base = base or "user"
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base}-{n}"
    name = str(claims.get("name") or "").split(" ", 1)
    user = User(
        username=username,
        email=str(claims.get("email") or "")[:254],
        first_name=str(claims.get("given_name") or name[0])[:150],
        last_name=str(claims.get("family_name") or (name[1] if len(name) > 1 else ""))[:150],
    )
    user.set_unusable_password()
    user.save()
    return user


def sync_groups(user, provider_groups: list[str]) -> tuple[list[str], list[str]]:
    """Set the user's mapped product groups to exactly those the provider's groups map to.
    Returns (added, removed) names. Removal goes through the m2m signal that voids approvals."""
    mapping: dict[str, str] = settings.OIDC_GROUP_MAP
    managed = set(mapping.values())
    wanted = {mapping[g] for g in provider_groups if g in mapping}
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    removed, added = sorted(current - wanted), sorted(wanted - current)
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    if added:
        user.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in added])
    return added, removed


def reset_caches() -> None:
    """Forget discovery and keys (tests start providers on new ports)."""
    with _lock:
        _discovery.clear()
        _jwks.clear()


__all__ = [
    "Backend",
    "ProviderUnavailable",
    "SignInRefused",
    "check_id_token",
    "configured",
    "discovery",
    "sync_groups",
]


def end_session_url(request) -> str | None:
    """Where to send someone who signed in through the provider and now signs out, so the
    provider's session ends too (a shared war-room machine): its end_session_endpoint with a
    way back to our sign-in page. None for a local sign-in, or when the provider cannot be
    asked (the sign-out here still happens)."""
    if not configured() or request.session.get(BACKEND_SESSION_KEY) != BACKEND_PATH:
        return None
    try:
        endpoint = discovery().get("end_session_endpoint")
    except ProviderUnavailable:
        return None
    if not endpoint:
        return None
    back = request.build_absolute_uri(reverse("login"))
    query = urlencode({"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": back})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
