"""Step-up by re-authenticating at the identity provider (prompt=login, max_age=0).

The proof comes before the act: the round trip to the provider (identity/views/reauth.py)
stores an unused StepUpProof bound to the act, the object and the plan, and returns to the
page with `step_up_provider=<nonce>`; the page posts it back as `provider_proof`, and `verify`
spends it once, for that binding only.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from identity import oidc
from identity.challenges import Binding, WrongAnswer
from identity.models import ExternalIdentity, StepUpProof

PROOF_MAX_AGE = timedelta(minutes=5)  # between the callback and the act it confirms


def linked_identity(user) -> ExternalIdentity | None:
    """The person's identity at the configured provider, if they have one."""
    if not (oidc.configured() and getattr(user, "is_authenticated", False)):
        return None
    return ExternalIdentity.objects.filter(user=user, issuer=oidc.issuer()).first()


def available(user) -> bool:
    return linked_identity(user) is not None


def verify(user, binding: Binding, evidence) -> StepUpProof:
    """Spend the person's unused provider proof for exactly this binding; else WrongAnswer."""
    nonce = str(evidence.get("provider_proof") or "")
    now = timezone.now()
    with transaction.atomic():
        proof = (
            StepUpProof.objects.select_for_update()
            .filter(user=user, method=StepUpProof.Method.PROVIDER, nonce=nonce)
            .first()
        )
        if proof is None:
            raise WrongAnswer("that identity provider confirmation is not one of yours")
        if proof.used_at is not None:
            raise WrongAnswer("that identity provider confirmation was already used")
        if (proof.act, proof.target, proof.plan_hash) != (
            binding.act,
            binding.target,
            binding.plan_hash,
        ):
            raise WrongAnswer("that identity provider confirmation was for another act or plan")
        if proof.created_at < now - PROOF_MAX_AGE:
            raise WrongAnswer("that identity provider confirmation is too old: confirm again")
        proof.used_at = now
        proof.save(update_fields=["used_at"])
    return proof
