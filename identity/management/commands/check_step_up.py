"""`manage.py check_step_up PROOF_ID`: re-verify a stored passkey step-up from its fields."""

from django.core.management.base import BaseCommand, CommandError

from identity.models import StepUpProof
from identity.proofs import check_proof


class Command(BaseCommand):
    help = "Check that a step-up proof's passkey signed the act, object and plan it names."

    def add_arguments(self, parser):
        parser.add_argument("proof_id", type=int)

    def handle(self, *args, proof_id, **options):
        proof = StepUpProof.objects.select_related("passkey", "user").filter(pk=proof_id).first()
        if proof is None:
            raise CommandError(f"no step-up proof {proof_id}")
        ok, reason = check_proof(proof)
        if not ok:
            raise CommandError(f"proof {proof_id} does NOT check out: {reason}")
        self.stdout.write(f"proof {proof_id} checks out: {reason}")
