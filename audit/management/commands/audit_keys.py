import base64
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.signing import new_key, public_keys, signing_key


class Command(BaseCommand):
    help = (
        "Audit checkpoint keys. `new`: a fresh Ed25519 key (its private seed, for "
        "AUDIT_SIGNING_KEY, and its public key). `public`: the configured public keys, which "
        "the offline verifier needs (--public-key)."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        new = commands.add_parser("new", help="generate a signing key")
        new.add_argument("--id", dest="key_id", help="its key id (default: audit-<today>)")
        commands.add_parser("public", help="print the configured public keys, one a line")

    def handle(self, *args, action, key_id=None, **options):
        if action == "new":
            try:
                key = new_key(key_id or f"audit-{datetime.now(UTC):%Y%m%d}")
            except ValueError as problem:
                raise CommandError(str(problem)) from None
            self.stdout.write(f"key id:      {key.key_id}")
            self.stdout.write(f"private key: {key.private_text()}")
            self.stdout.write(f"public key:  {key.public_text()}")
            self.stderr.write(
                "Set AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) to the private key where the "
                "worker runs; keep it secret. To rotate, first add the current key's public key "
                "to AUDIT_VERIFY_KEYS (`audit_keys public`), then switch AUDIT_SIGNING_KEY."
            )
            return
        try:
            keys = public_keys()
            current = signing_key()
        except ImproperlyConfigured as problem:
            raise CommandError(str(problem)) from None
        if not keys:
            raise CommandError("no signing key configured and no AUDIT_VERIFY_KEYS")
        for kid, public in keys.items():  # as --public-key takes them
            self.stdout.write(f"{kid}:{base64.b64encode(public).decode()}")
        if current is not None:
            self.stderr.write(f"{current.key_id} signs new checkpoints; any others are retired")
