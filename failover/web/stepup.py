"""Step-up on the browser pages: the posted form's evidence, checked by identity.stepup for
the act, the object and the plan the person saw (a passkey signs exactly that)."""

from __future__ import annotations

from identity.models import StepUpProof
from identity.stepup import Binding, StepUpError, confirm, evidence_from

__all__ = ["StepUpError", "confirm_act"]


def confirm_act(request, act: str, *, target: str = "", plan_hash: str = "") -> StepUpProof:
    """The proof that the signed-in person confirmed `act`, or StepUpError."""
    binding = Binding(act, target, plan_hash)
    return confirm(request.user, binding, evidence_from(request.POST))
