from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from audit.export import Tally, csv_lines, events, jsonl


class Command(BaseCommand):
    help = (
        "Export audit events as JSON Lines or CSV, with their chain hashes and a closing "
        "trailer (count, last seq, last hash); exits 1 if the export failed midway."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument(
            "--request",
            type=int,
            action="append",
            default=[],
            help="only events of this failover request (repeatable)",
        )
        parser.add_argument("--since", help="ISO 8601 date-time, inclusive")
        parser.add_argument("--until", help="ISO 8601 date-time, exclusive")

    def handle(self, *args, format, request, since, until, **options):
        bounds = {}
        for name, raw in (("since", since), ("until", until)):
            if raw:
                bounds[name] = parse_datetime(raw)
                if bounds[name] is None:
                    raise CommandError(f"--{name} is not an ISO 8601 date-time")
        scope = (
            {"object_type": "failover.failoverrequest", "object_ids": request} if request else {}
        )
        rows, tally = events(**scope, **bounds), Tally()
        for chunk in jsonl(rows, tally) if format == "jsonl" else csv_lines(rows, tally):
            self.stdout.write(chunk, ending="")
        if tally.error:
            # The file already ends with the error trailer; the exit status says it too.
            raise CommandError(f"export failed after {tally.count} events: {tally.error}")
