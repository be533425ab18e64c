import os

from django.core.management.base import BaseCommand, CommandError

from audit.evidence import verify_all


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain, then the chain against the signed checkpoints kept "
        "outside the database; name the first broken event or disagreeing checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="processes that verify parts of a long chain on PostgreSQL (default: CPUs, "
            "at most 4; 1 walks it in this process)",
        )

    def handle(self, *args, workers, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        verdict = verify_all(workers=workers)
        summary = verdict.checkpoints
        for warning in summary.get("warnings", []):
            self.stderr.write(f"WARNING: {warning}")
        for problem in summary.get("problems", [])[1:]:
            self.stderr.write(f"also: {problem}")
        if not verdict.ok:
            checked = f"{verdict.verified} events verified"
            if summary.get("problem") and summary["problem"] != verdict.reason:
                checked += f"; checkpoints: {summary['problem']}"
            if verdict.first_broken_seq is None:  # the chain agrees; a checkpoint is forged
                raise CommandError(f"audit checkpoints BROKEN: {verdict.reason} ({checked})")
            raise CommandError(
                f"audit chain BROKEN at event #{verdict.first_broken_seq}: {verdict.reason} "
                f"({checked})"
            )
        self.stdout.write(f"audit chain OK: {verdict.verified} events verified")
        latest = summary.get("latest")
        if latest:
            self.stdout.write(
                f"checkpoints OK: {summary['checked']} agree with the chain, the latest "
                f"#{latest['seq']} signed {latest['signed_at']} with key {latest['key_id']} "
                f"({', '.join(summary['stores'])})"
            )
