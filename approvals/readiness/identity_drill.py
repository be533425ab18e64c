"""Identity end to end (issue 17): run the drill's identity checks of a failover's targets and
keep them as evidence on the request, or run them on demand for a service's target.

The three checks (`approvals.readiness.checks.identity_drill`): a synthetic sign-in with the
target's drill client, the signing-key overlap between the current target's provider and the
target's, and the fingerprint of the certificate the target serves. Their kinds are not
identity-critical: stored on a real request they are evidence and place no system veto (the
readiness gate decides on its own four kinds, unchanged).

Network I/O happens outside any transaction; storing goes through `store_results`, like every
readiness result. The drill client's secret is decrypted only to be handed to the checker, and
every result is scrubbed of it before it is stored, logged or printed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from approvals.readiness import checks
from approvals.readiness.checks.identity_drill import scrub_result, secret_forms
from approvals.readiness.checks.run import run_isolated
from approvals.readiness.models import IdentityDrillClient, ReadinessCheck
from approvals.readiness.selectors import ca_bundle_for, jwks_origins, run_budget, timeout
from approvals.readiness.services import run_readiness_checks, store_results
from failover.errors import InvalidInput, NotFound
from failover.models import FailoverRequest, Service, Target
from failover.secrets import reencrypt

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def drill_client_for(target: Target) -> IdentityDrillClient | None:
    return IdentityDrillClient.objects.filter(target=target).first()


def _not_configured(kind: str, reason: str) -> checks.CheckResult:
    return checks.CheckResult(kind, False, reason, {"configured": False})


def gather_identity(current: Target | None, target: Target) -> list[checks.CheckResult]:
    """Run the three identity checks of a failover from `current` to `target`, each isolated
    from the others. Network I/O: call outside any transaction."""
    client = drill_client_for(target)
    where = f"admin: Readiness checks > Identity drill clients > {target}"
    secret, secret_error = "", ""
    if client is not None:
        try:
            secret = client.client_secret()
        except ValueError:
            secret_error = (
                f"the drill client's secret for {target} cannot be decrypted with the "
                "configured key: set it anew"
            )
    run: dict = {}
    if client is None or not client.client_id:
        run[checks.SIGN_IN] = partial(
            _not_configured, checks.SIGN_IN, f"no drill client is configured for {target} ({where})"
        )
    elif secret_error:
        run[checks.SIGN_IN] = partial(_not_configured, checks.SIGN_IN, secret_error)
    else:
        run[checks.SIGN_IN] = partial(
            checks.check_sign_in,
            issuer=target.oidc_issuer,
            client_id=client.client_id,
            client_secret=secret,
            audience=client.audience,
            scope=client.scope,
            ca_bundle=ca_bundle_for(target),
            timeout=timeout(),
            jwks_origins=jwks_origins(),
        )
    run[checks.KEY_OVERLAP] = partial(
        checks.check_key_overlap,
        current_issuer=current.oidc_issuer if current else "",
        target_issuer=target.oidc_issuer,
        current_ca_bundle=ca_bundle_for(current) if current else None,
        ca_bundle=ca_bundle_for(target),
        timeout=timeout(),
        jwks_origins=jwks_origins(),
    )
    if client is None or not client.expected_certificate_sha256:
        run[checks.CERT_FINGERPRINT] = partial(
            _not_configured,
            checks.CERT_FINGERPRINT,
            f"no expected certificate fingerprint is configured for {target} ({where})",
        )
    else:
        run[checks.CERT_FINGERPRINT] = partial(
            checks.check_certificate_fingerprint,
            address=target.address,
            hostnames=list(target.certificate_hostnames or []),
            expected_sha256=client.expected_certificate_sha256,
            timeout=timeout(),
        )
    results = run_isolated(run, budget=run_budget())
    # Also what a checker that crashed or hung said: no result carries the secret.
    hidden = secret_forms(secret, client.client_id if client else "")
    return [scrub_result(result, hidden) for result in results]


def run_identity_checks(*, request_id: int, actor: User | None = None) -> list[ReadinessCheck]:
    """Check the identity stack of a request's failover (from its current target to its
    target) and store each result as evidence on it, audited. Not in a transaction."""
    request = (
        FailoverRequest.objects.select_related("service", "from_target", "to_target")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound(f"no failover request #{request_id}")
    results = gather_identity(request.from_target, request.to_target)
    log(results, f"request #{request.pk}")
    return store_results(request, request.to_target, results, actor=actor)


def run_request_checks(*, request_id: int) -> list[ReadinessCheck]:
    """The readiness run of a request (the worker's task): the checks every request gets, and
    for a drill the identity stack end to end as well, its evidence on the drill. A real
    request does not wait for them: they are evidence, not a gate (issue 17)."""
    stored = run_readiness_checks(request_id=request_id)
    if FailoverRequest.objects.filter(pk=request_id, drill=True).exists():
        stored += run_identity_checks(request_id=request_id)
    return stored


@dataclass(frozen=True)
class OnDemand:
    current: Target | None
    target: Target
    results: list[checks.CheckResult]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)


def targets_of(
    service_slug: str, target_name: str, current_name: str | None = None
) -> tuple[Target | None, Target]:
    """The failover's two ends: the named target, and the named current one or else the
    service's active target (None when it has none)."""
    service = Service.objects.filter(slug=service_slug).first()
    if service is None:
        raise NotFound(f"no service {service_slug!r}")
    targets = {t.name: t for t in Target.objects.filter(service=service)}
    if target_name not in targets:
        raise NotFound(
            f"service {service_slug!r} has no target {target_name!r} "
            f"(it has: {', '.join(sorted(targets)) or 'none'})"
        )
    if current_name is not None and current_name not in targets:
        raise NotFound(f"service {service_slug!r} has no target {current_name!r}")
    if current_name == target_name:
        raise InvalidInput(
            "the current target and the target are the same",
            {"from": "name the target traffic is on now"},
        )
    current = (
        targets[current_name]
        if current_name is not None
        else next((t for t in targets.values() if t.active), None)
    )
    return current, targets[target_name]


def check_identity_on_demand(
    *, service_slug: str, target_name: str, current_name: str | None = None
) -> OnDemand:
    """The identity checks of a failover of the service to `target_name`, run now and not
    stored (no request to keep them on). Network I/O."""
    current, target = targets_of(service_slug, target_name, current_name)
    results = gather_identity(current, target)
    log(results, f"{service_slug} -> {target_name}")
    return OnDemand(current, target, results)


def log(results: list[checks.CheckResult], what: str) -> None:
    for result in results:
        logger.info(
            "identity check %s of %s: %s: %s",
            result.kind,
            what,
            "ok" if result.ok else "FAILED",
            result.reason,
        )


def reencrypt_drill_client_secrets() -> tuple[int, list[str]]:
    """For `manage.py rotate_encryption_key`, inside its transaction: every drill client's
    secret under the current first key. Returns (re-encrypted, unreadable clients' names)."""
    count, unreadable = 0, []
    for client in IdentityDrillClient.objects.select_for_update().select_related("target__service"):
        if not client.client_secret_encrypted:
            continue
        try:
            client.client_secret_encrypted = reencrypt(client.client_secret_encrypted)
        except ValueError:
            unreadable.append(str(client))
            continue
        client.save(update_fields=["client_secret_encrypted"])
        count += 1
    return count, unreadable
