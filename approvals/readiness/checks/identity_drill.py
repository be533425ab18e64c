"""Identity end to end, for drills and on demand (issue 17): pure checkers, plain data in and out.

- `check_sign_in`: a synthetic sign-in at the target's identity provider. The drill client asks
  the token endpoint named by the issuer's discovery document for a client-credentials token;
  the token's signature must verify against the target's JWKS, and its issuer and audience
  must be the expected ones.
- `check_key_overlap`: which keys the current provider signs with are trusted (present, same
  key material, same kid) in the target provider's JWKS, and which sessions break.
- `check_certificate_fingerprint`: the certificate the target actually serves, compared with
  the expected SHA-256 fingerprint(s).

Every checker answers a `CheckResult` and never raises: a failure is a result with a reason.
The drill client's secret (and the token it gets) never appears in a result: whatever a
server echoes back is scrubbed (`scrub`). Every connection goes through the outbound guard.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from collections.abc import Callable, Iterable, Sequence
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
from cryptography import x509

from approvals.readiness.checks import http
from approvals.readiness.checks.base import (
    DEFAULT_TIMEOUT,
    CheckResult,
    client_context,
    split_address,
)
from approvals.readiness.checks.http import origin
from failover import outbound

SIGN_IN = "identity_sign_in"
KEY_OVERLAP = "signing_key_overlap"
CERT_FINGERPRINT = "cert_fingerprint"
DRILL_KINDS = (SIGN_IN, KEY_OVERLAP, CERT_FINGERPRINT)

WELL_KNOWN = "/.well-known/openid-configuration"
# Asymmetric algorithms only: with "none" or HMAC, whoever answers could mint a token that
# "verifies" (HMAC with the public key as the shared secret is the classic confusion).
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
LEEWAY = 30  # seconds of clock skew allowed on exp / nbf / iat
REDACTED = "[redacted]"
# The members of a public key that RFC 7638 thumbprints, by key type.
THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
CLAIMS_KEPT = ("iss", "aud", "sub", "azp", "client_id", "scope", "exp", "iat", "nbf")


class _Failed(Exception):
    """A checker's early answer: the reason it failed (details are filled as it goes)."""


# --- shared helpers -------------------------------------------------------------------------


def secret_forms(secret: str, client_id: str = "") -> list[str]:
    """The ways a secret may come back from a server: as given, form-encoded, and inside the
    HTTP Basic credentials it was sent in."""
    if not secret:
        return []
    basic = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        urlencode({"s": secret})[2:],
        base64.b64encode(basic).decode(),
    }
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with every occurrence of the secrets replaced, in strings at any depth."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


def scrub_result(result: CheckResult, secrets: Iterable[str]) -> CheckResult:
    secrets = list(secrets)
    return CheckResult(
        result.kind, result.ok, scrub(result.reason, secrets), scrub(result.details, secrets)
    )


def _guarded(
    kind: str, details: dict, secrets: list[str], body: Callable[[], CheckResult]
) -> CheckResult:
    """Run a checker's body: an early `_Failed` is its failed result, anything unexpected too
    (never raised), and nothing it answers holds a secret."""
    try:
        result = body()
    except _Failed as exc:
        result = CheckResult(kind, False, str(exc), details)
    except Exception as exc:  # a checker never raises: whatever it was is this check's failure
        message = " ".join(str(exc).split())[:1000]
        details["exception"] = type(exc).__name__
        result = CheckResult(
            kind, False, f"the check could not complete: {type(exc).__name__}: {message}", details
        )
    return scrub_result(result, secrets)


def _context(ca_bundle: str | None) -> ssl.SSLContext:
    try:
        return client_context(ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise _Failed(f"cannot load CA bundle {ca_bundle!r}: {exc}") from None


def _get_json(
    url: str, what: str, details: dict, prefix: str, *, context: ssl.SSLContext, timeout: float
) -> Any:
    try:
        response = http.get(url, context=context, timeout=timeout)
        details[f"{prefix}status"] = response.status
        if response.status != 200:
            raise _Failed(
                f"{what} at {url} answered HTTP {response.status}: {http.sample(response.body)}"
            )
        return response.json()
    except http.FetchError as exc:
        details.update({f"{prefix}{k}": v for k, v in exc.evidence.items()})
        raise _Failed(f"{what}: {exc}") from None


def _allowed(url: str, issuer: str, extra: Sequence[str]) -> bool:
    """Whether `url` is on the issuer's origin or on one of the `extra` origins ("*": any)."""
    if "*" in extra:
        return True
    return origin(url) in {origin(issuer)} | {origin(o) for o in extra}


def discover(
    issuer: str,
    *,
    context: ssl.SSLContext,
    timeout: float,
    details: dict,
    prefix: str = "",
    need: Sequence[str] = ("jwks_uri",),
) -> dict:
    """The issuer's discovery document: verified TLS, names exactly `issuer`, has `need`."""
    url = issuer.rstrip("/") + WELL_KNOWN
    details[f"{prefix}discovery_url"] = url
    document = _get_json(
        url, "discovery document", details, f"{prefix}discovery_", context=context, timeout=timeout
    )
    if not isinstance(document, dict):
        raise _Failed(f"discovery document at {url} is not a JSON object")
    found = document.get("issuer")
    details[f"{prefix}discovered_issuer"] = found
    if found != issuer:
        raise _Failed(f"discovery document names issuer {found!r}, expected exactly {issuer!r}")
    for name in need:
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise _Failed(f"discovery document of {issuer} has no {name}")
    return document


def fetch_jwks(
    jwks_uri: str,
    *,
    issuer: str,
    context: ssl.SSLContext,
    timeout: float,
    jwks_origins: Sequence[str],
    details: dict,
    prefix: str = "",
) -> list[dict]:
    """The keys of a JWKS (only its JSON objects), fetched only from an allowed origin."""
    details[f"{prefix}jwks_uri"] = jwks_uri
    if not _allowed(jwks_uri, issuer, jwks_origins):
        raise _Failed(
            f"jwks_uri {jwks_uri} is not on the issuer's origin {origin(issuer)} "
            "(READINESS_JWKS_ALLOWED_ORIGINS can allow other origins)"
        )
    jwks = _get_json(jwks_uri, "JWKS", details, f"{prefix}jwks_", context=context, timeout=timeout)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        details[f"{prefix}jwks_keys"] = 0
        raise _Failed(f"JWKS at {jwks_uri} holds no keys")
    keys = [k for k in keys if isinstance(k, dict)]
    details[f"{prefix}jwks_keys"] = len(keys)
    details[f"{prefix}jwks_kids"] = [k.get("kid") for k in keys][:20]
    return keys


def thumbprint(jwk: dict) -> str | None:
    """The RFC 7638 SHA-256 thumbprint of a public key, or None for a key we cannot read."""
    members = THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if not members or not all(isinstance(jwk.get(m), str) and jwk.get(m) for m in members):
        return None
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signing_keys(keys: list[dict]) -> list[dict]:
    """The keys a provider may sign with: public keys not marked for encryption only."""
    return [k for k in keys if k.get("use", "sig") == "sig" and k.get("kty") != "oct"]


# --- (a) the synthetic sign-in --------------------------------------------------------------


def _post_form(
    url: str, form: dict, *, headers: dict, context: ssl.SSLContext, timeout: float
) -> http.Response:
    """A form POST through the guard, with the failures `http.get` maps (as FetchError)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "failover-readiness/1",
        **headers,
    }
    try:
        answer = outbound.request(
            "POST",
            url,
            timeout=timeout,
            context=context,
            body=urlencode(form).encode(),
            headers=headers,
            max_bytes=http.MAX_BYTES,
        )
    except outbound.Refused as exc:
        raise http.FetchError(f"{url}: {exc}", {"refused": str(exc)}) from exc
    except outbound.TooLarge as exc:
        raise http.FetchError(f"{url}: {exc}", {"limit_bytes": http.MAX_BYTES}) from exc
    except (OSError, ValueError) as exc:  # network, TLS, timeouts, a URL with a bad port
        raise http.FetchError(
            f"cannot reach {url}: {type(exc).__name__}: {exc}", {"exception": type(exc).__name__}
        ) from exc
    except HTTPException as exc:  # not HTTP: a banner, a closed connection, a broken chunk
        raise http.FetchError(
            f"{url} did not answer HTTP: {type(exc).__name__}: {http.sample(str(exc))}",
            {"exception": type(exc).__name__, "read": http.sample(str(exc))},
        ) from exc
    return http.Response(url, answer.status, answer.body, answer.peer)


def _auth_method(document: dict) -> str:
    """client_secret_basic (the OAuth default) unless the provider only lists _post."""
    methods = document.get("token_endpoint_auth_methods_supported")
    only_post = (
        isinstance(methods, list)
        and "client_secret_basic" not in methods
        and "client_secret_post" in methods
    )
    return "client_secret_post" if only_post else "client_secret_basic"


def _refusal(response: http.Response) -> str:
    """What a token endpoint's error answer says (RFC 6749 5.2), or the start of its body."""
    try:
        error = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        error = None
    if isinstance(error, dict) and isinstance(error.get("error"), str):
        text = error["error"]
        if isinstance(error.get("error_description"), str):
            text += f": {error['error_description']}"
        return http.sample(text)
    return http.sample(response.body) or "(no body)"


def _request_token(
    document: dict,
    *,
    client_id: str,
    client_secret: str,
    audience: str,
    scope: str,
    context: ssl.SSLContext,
    timeout: float,
    details: dict,
) -> str:
    url = document["token_endpoint"]
    method = _auth_method(document)
    details["auth_method"] = method
    form = {"grant_type": "client_credentials"}
    if audience:
        form["audience"] = audience  # the resource the token is for, where the IdP takes it
    if scope:
        form["scope"] = scope
    headers = {}
    if method == "client_secret_basic":
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        form.update(client_id=client_id, client_secret=client_secret)
    try:
        response = _post_form(url, form, headers=headers, context=context, timeout=timeout)
    except http.FetchError as exc:
        details.update({f"token_{k}": v for k, v in exc.evidence.items()})
        raise _Failed(f"token request: {exc}") from None
    details["token_status"] = response.status
    if response.status != 200:
        raise _Failed(
            f"the token endpoint refused the drill client: HTTP {response.status}: "
            f"{_refusal(response)}"
        )
    try:
        answer = response.json()
    except http.FetchError as exc:
        details.update({f"token_{k}": v for k, v in exc.evidence.items()})
        raise _Failed(f"token answer: {exc}") from None
    if not isinstance(answer, dict):
        raise _Failed("the token endpoint's answer is not a JSON object")
    details["token_type"] = http.sample(str(answer.get("token_type", "")))
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise _Failed(
            f"the token endpoint's answer has no access_token (keys: "
            f"{', '.join(sorted(str(k) for k in answer)[:10]) or 'none'})"
        )
    return token


def _unverified_claims(token: str) -> dict:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return {k: claims[k] for k in CLAIMS_KEPT if k in claims} if isinstance(claims, dict) else {}


def _pick_key(header: dict, keys: list[dict], details: dict) -> dict:
    kid = header.get("kid")
    if kid is None:
        usable = signing_keys(keys)
        if len(usable) != 1:
            raise _Failed(
                f"the token names no key (kid) and the target's JWKS holds {len(usable)} "
                "signing keys: it cannot be told which one signed it"
            )
        return usable[0]
    matches = [k for k in keys if k.get("kid") == kid]
    if not matches:
        raise _Failed(
            f"the token is signed with key {kid!r}, which the target's JWKS does not hold "
            f"(it holds {', '.join(repr(k.get('kid')) for k in keys[:10])})"
        )
    key = matches[0]
    if key.get("use", "sig") != "sig":
        raise _Failed(f"key {kid!r} of the target's JWKS is for {key.get('use')!r}, not signing")
    if key.get("alg") and key.get("alg") != header.get("alg"):
        raise _Failed(
            f"key {kid!r} is published for {key.get('alg')!r}, the token says {header.get('alg')!r}"
        )
    return key


def _verify(
    token: str, keys: list[dict], *, issuer: str, audience: str, leeway: float, details: dict
) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _Failed(
            f"the access token is not a JWT (an opaque token cannot be verified): {exc}"
        ) from None
    claims = _unverified_claims(token)
    details["claims_unverified"] = claims
    alg = header.get("alg")
    details["alg"], details["kid"] = alg, header.get("kid")
    if alg not in ALGORITHMS:
        raise _Failed(
            f"the token is signed with {alg!r}: only asymmetric algorithms "
            f"({', '.join(ALGORITHMS)}) are accepted"
        )
    jwk = _pick_key(header, keys, details)
    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise _Failed(f"key {jwk.get('kid')!r} of the target's JWKS is unusable: {exc}") from None
    try:
        verified = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["iss", "aud", "exp"]},
        )
    except jwt.InvalidSignatureError:
        raise _Failed(
            f"the token's signature does not verify with key {jwk.get('kid')!r} of the "
            "target's JWKS"
        ) from None
    except jwt.ExpiredSignatureError:
        raise _Failed(
            f"the token the provider issued has expired (exp {claims.get('exp')})"
        ) from None
    except jwt.InvalidIssuerError:
        raise _Failed(
            f"the token names issuer {claims.get('iss')!r}, expected exactly {issuer!r}"
        ) from None
    except jwt.InvalidAudienceError:
        raise _Failed(
            f"the token is for audience {claims.get('aud')!r}, expected {audience!r}"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise _Failed(f"the token lacks the {exc.claim!r} claim") from None
    except jwt.ImmatureSignatureError:
        raise _Failed("the token is not valid yet (nbf/iat in the future)") from None
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise _Failed(f"the token does not verify: {type(exc).__name__}: {exc}") from None
    return verified


def check_sign_in(
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    audience: str,
    scope: str = "",
    ca_bundle: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    jwks_origins: Sequence[str] = (),
    token_origins: Sequence[str] = (),
    leeway: float = LEEWAY,
) -> CheckResult:
    """A client-credentials token from the target's IdP, verified as a relying party would.

    The token endpoint must share the issuer's origin unless `token_origins` lists its
    origin: the client's secret is sent there, and the discovery document is the IdP's word.
    The JWKS follows the readiness rule (`jwks_origins`)."""
    details: dict = {
        "issuer": issuer,
        "client_id": client_id,
        "audience": audience,
        "ca_bundle": ca_bundle or "",
    }
    secrets = secret_forms(client_secret, client_id)
    token = ""

    def body() -> CheckResult:
        nonlocal token
        missing = [
            name
            for name, value in (
                ("OIDC issuer", issuer),
                ("drill client id", client_id),
                ("drill client secret", client_secret),
                ("expected audience", audience),
            )
            if not value
        ]
        if missing:
            raise _Failed(f"the target's identity drill has no {', '.join(missing)}")
        context = _context(ca_bundle)
        document = discover(
            issuer,
            context=context,
            timeout=timeout,
            details=details,
            need=("jwks_uri", "token_endpoint"),
        )
        token_endpoint = document["token_endpoint"]
        details["token_endpoint"] = token_endpoint
        if urlsplit(token_endpoint).scheme.lower() != "https":
            raise _Failed(f"token endpoint {token_endpoint} is not https: the secret stays here")
        if not _allowed(token_endpoint, issuer, token_origins):
            raise _Failed(
                f"token endpoint {token_endpoint} is not on the issuer's origin "
                f"{origin(issuer)}: the drill client's secret is not sent there"
            )
        keys = fetch_jwks(
            document["jwks_uri"],
            issuer=issuer,
            context=context,
            timeout=timeout,
            jwks_origins=jwks_origins,
            details=details,
        )
        token = _request_token(
            document,
            client_id=client_id,
            client_secret=client_secret,
            audience=audience,
            scope=scope,
            context=context,
            timeout=timeout,
            details=details,
        )
        claims = _verify(
            token, keys, issuer=issuer, audience=audience, leeway=leeway, details=details
        )
        details["claims"] = {k: claims[k] for k in CLAIMS_KEPT if k in claims}
        details.pop("claims_unverified", None)
        return CheckResult(
            SIGN_IN,
            True,
            f"the drill client got a token signed with key {details['kid']!r} ({details['alg']}) "
            f"of the target's JWKS, issuer and audience as expected",
            details,
        )

    result = _guarded(SIGN_IN, details, secrets, body)
    # The token is a credential too, if short-lived: it never becomes evidence.
    return scrub_result(result, [token]) if token else result


# --- (b) signing-key overlap ----------------------------------------------------------------


def _key_entry(key: dict, target_by_kid: dict[str, list[str | None]], target_prints: set) -> dict:
    kid, print_ = key.get("kid"), thumbprint(key)
    entry = {"kid": kid, "kty": key.get("kty"), "alg": key.get("alg"), "thumbprint": print_}
    if print_ is None:
        entry.update(trusted=False, why="the current provider's key cannot be read")
    elif kid is None:
        trusted = print_ in target_prints
        why = "same key in the target's JWKS" if trusted else "not in the target's JWKS"
        entry.update(trusted=trusted, why=why)
    elif print_ in target_by_kid.get(kid, []):
        entry.update(trusted=True, why="same kid, same key in the target's JWKS")
    elif kid in target_by_kid:
        entry.update(trusted=False, why="the target holds another key under this kid")
    elif print_ in target_prints:
        entry.update(
            trusted=False,
            why="the target holds this key under another kid: verifiers look keys up by kid",
        )
    else:
        entry.update(trusted=False, why="not in the target's JWKS")
    return entry


def _breaks(kid: Any) -> str:
    return (
        f"sessions whose tokens are signed with key {kid!r}"
        if kid
        else ("sessions whose tokens name no key (kid)")
    )


def check_key_overlap(
    *,
    current_issuer: str,
    target_issuer: str,
    current_ca_bundle: str | None = None,
    ca_bundle: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    jwks_origins: Sequence[str] = (),
) -> CheckResult:
    """Every key the current provider signs with (its JWKS's signing keys: the product stores
    no token of the sessions, so every published one is taken as in use) must be trusted by
    the target provider: the same key material under the same kid in its JWKS. A session
    whose token is signed with any other key breaks at the failover."""
    details: dict = {
        "current_issuer": current_issuer,
        "target_issuer": target_issuer,
        "sessions": "the product keeps no token or key id of its users' sessions at the "
        "providers: a session is named by the key its token is signed with",
    }

    def provider_keys(issuer: str, bundle: str | None, prefix: str) -> list[dict]:
        try:
            context = _context(bundle)
            document = discover(
                issuer, context=context, timeout=timeout, details=details, prefix=prefix
            )
            return fetch_jwks(
                document["jwks_uri"],
                issuer=issuer,
                context=context,
                timeout=timeout,
                jwks_origins=jwks_origins,
                details=details,
                prefix=prefix,
            )
        except _Failed as exc:  # say whose keys could not be read
            raise _Failed(f"the {prefix.rstrip('_')} provider's keys: {exc}") from None

    def body() -> CheckResult:
        if not current_issuer:
            raise _Failed("the current target names no OIDC issuer: there is nothing to compare")
        if not target_issuer:
            raise _Failed("the target names no OIDC issuer: no session can carry over")
        current = provider_keys(current_issuer, current_ca_bundle, "current_")
        if target_issuer == current_issuer:
            target = current
            details["same_provider"] = True
        else:
            target = provider_keys(target_issuer, ca_bundle, "target_")
        signing = signing_keys(current)
        if not signing:
            raise _Failed("the current provider's JWKS holds no signing key")
        by_kid: dict[str, list[str | None]] = {}
        for key in signing_keys(target):
            by_kid.setdefault(key.get("kid"), []).append(thumbprint(key))  # type: ignore[arg-type]
        prints = {p for group in by_kid.values() for p in group if p}
        entries = [_key_entry(key, by_kid, prints) for key in signing]
        trusted = [e["kid"] for e in entries if e["trusted"]]
        untrusted = [e["kid"] for e in entries if not e["trusted"]]
        details.update(
            keys=entries,
            trusted_kids=trusted,
            untrusted_kids=untrusted,
            breaks=[_breaks(kid) for kid in untrusted],
            overlap="full" if not untrusted else "partial" if trusted else "none",
        )
        total = len(entries)
        if not untrusted:
            return CheckResult(
                KEY_OVERLAP,
                True,
                f"the target trusts all {total} signing key(s) of the current provider: "
                "no session breaks",
                details,
            )
        named = "; ".join(f"{_breaks(e['kid'])} ({e['why']})" for e in entries if not e["trusted"])
        if not trusted:
            return CheckResult(
                KEY_OVERLAP,
                False,
                f"the target trusts none of the current provider's {total} signing key(s): "
                f"every session breaks: {named}",
                details,
            )
        return CheckResult(
            KEY_OVERLAP,
            False,
            f"the target trusts {len(trusted)} of the current provider's {total} signing "
            f"keys: these break: {named}",
            details,
        )

    return _guarded(KEY_OVERLAP, details, [], body)


# --- (c) the served certificate's fingerprint -----------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse_fingerprints(value: str | Sequence[str]) -> list[str]:
    """SHA-256 fingerprints (hex, colons and spaces allowed; comma-separated in a string) as
    64 lower-case hex digits; ValueError naming a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    found = []
    for item in items:
        clean = re.sub(r"[\s:]", "", str(item)).lower()
        if not clean:
            continue
        if not _HEX64.fullmatch(clean):
            raise ValueError(f"{http.sample(str(item))!r} is not a SHA-256 fingerprint")
        found.append(clean)
    return found


def served_certificate(host: str, port: int, hostname: str, timeout: float) -> bytes:
    """The leaf certificate the target serves for `hostname` (SNI), as served: a pin compares
    it whatever its chain (the TLS check judges the chain)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        outbound.connect(host, port, timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def _fingerprint_entry(
    host: str, port: int, hostname: str, expected: list[str], timeout: float
) -> dict:
    entry: dict = {"hostname": hostname, "ok": False}
    try:
        der = served_certificate(host, port, hostname, timeout)
    except outbound.Refused as exc:
        entry["reason"] = str(exc)
        return entry
    except (OSError, ssl.SSLError) as exc:
        entry["reason"] = f"TLS connection to {host}:{port} failed: {type(exc).__name__}: {exc}"
        return entry
    entry["sha256"] = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
        entry.update(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc.isoformat(),
        )
    except ValueError as exc:
        entry["unreadable"] = str(exc)
    if entry["sha256"] in expected:
        entry.update(ok=True, reason="the served certificate has an expected fingerprint")
    else:
        entry["reason"] = f"served certificate {entry['sha256']} is not the expected one"
    return entry


def check_certificate_fingerprint(
    *,
    address: str,
    hostnames: Sequence[str],
    expected_sha256: str | Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
) -> CheckResult:
    """For each hostname (SNI; none given: the address's host), the certificate served at
    `address` must have one of the expected SHA-256 fingerprints (several during a rotation)."""
    details: dict = {"address": address}

    def body() -> CheckResult:
        try:
            expected = parse_fingerprints(expected_sha256)
        except ValueError as exc:
            raise _Failed(f"the expected fingerprint is not valid: {exc}") from None
        details["expected_sha256"] = expected
        if not expected:
            raise _Failed("no expected certificate fingerprint is configured for the target")
        try:
            host, port = split_address(address)
        except ValueError as exc:
            raise _Failed(str(exc)) from None
        names = [h for h in (hostnames or []) if h] or [host]
        entries = [_fingerprint_entry(host, port, name, expected, timeout) for name in names]
        details["hostnames"] = entries
        failed = [e for e in entries if not e["ok"]]
        if failed:
            reason = "; ".join(f"{e['hostname']}: {e['reason']}" for e in failed)
            return CheckResult(CERT_FINGERPRINT, False, reason, details)
        return CheckResult(
            CERT_FINGERPRINT,
            True,
            f"{len(entries)} hostname(s) serve a certificate with an expected fingerprint",
            details,
        )

    return _guarded(CERT_FINGERPRINT, details, [], body)
