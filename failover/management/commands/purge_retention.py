from django.conf import settings
from django.core.management.base import BaseCommand

from failover import retention


class Command(BaseCommand):
    help = (
        "Empty webhook bodies older than DELIVERY_BODY_RETENTION_DAYS and delete idempotency "
        "keys older than IDEMPOTENCY_RETENTION_HOURS (what the hourly task does); audited."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be purged, change nothing"
        )

    def handle(self, *args, dry_run, **options):
        verb = "would purge" if dry_run else "purged"
        while True:  # each run is one transaction and one audit event; a backlog takes several
            done = retention.purge(dry_run=dry_run)
            self.stdout.write(
                f"{verb} {done.bodies} delivery bodies received before "
                f"{done.body_cutoff.isoformat()} ({settings.DELIVERY_BODY_RETENTION_DAYS} days) "
                f"and {done.idempotency_keys} idempotency keys created before "
                f"{done.idempotency_cutoff.isoformat()} "
                f"({settings.IDEMPOTENCY_RETENTION_HOURS} hours)"
            )
            if not done.more:
                return
