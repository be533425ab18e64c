from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and name the first broken event."

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at event #{result.first_broken_seq}: {result.reason} "
                f"({result.verified} events verified before it)"
            )
        self.stdout.write(f"audit chain OK: {result.verified} events verified")
