"""Identity end to end, on demand (issue 17): the synthetic sign-in, signing-key overlap and
certificate fingerprint checks of a failover to a target, printed; exit status 1 if any failed,
2 for bad input (no such service, target or request).

    manage.py identity_check SERVICE TARGET [--from CURRENT] [--json]
    manage.py identity_check --request ID      (stored as evidence on the request)
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals.readiness.checks import CheckResult
from approvals.readiness.identity_drill import check_identity_on_demand, run_identity_checks
from failover.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Run the identity drill checks (sign-in, signing-key overlap, certificate fingerprint) "
        "of a failover of SERVICE to TARGET, or of a request (--request, stored as evidence)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("service", nargs="?", help="service slug")
        parser.add_argument("target", nargs="?", help="the target to fail over to")
        parser.add_argument(
            "--from", dest="current", help="the target traffic is on now (default: the active)"
        )
        parser.add_argument(
            "--request", type=int, help="check this request's targets; store the results on it"
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the results as JSON"
        )

    def handle(
        self,
        service: str | None,
        target: str | None,
        current: str | None,
        request: int | None,
        as_json: bool,
        **options: object,
    ) -> None:
        if request is not None and (service or target or current):
            raise CommandError("give either --request ID or SERVICE TARGET, not both", returncode=2)
        try:
            if request is None:
                if not (service and target):
                    raise CommandError(
                        "name the SERVICE and the TARGET (or give --request ID)", returncode=2
                    )
                answer = check_identity_on_demand(
                    service_slug=service, target_name=target, current_name=current
                )
                results = answer.results
                heading = (
                    f"identity checks of {answer.target} "
                    f"(current: {answer.current or 'no active target'})"
                )
            else:
                rows = run_identity_checks(request_id=request)
                results = [CheckResult(r.kind, r.ok, r.reason, r.details) for r in rows]
                heading = f"identity checks of request #{request} (stored as evidence)"
        except ServiceError as exc:  # bad input: 2, as for usage errors; failed checks: 1
            raise CommandError(str(exc), returncode=2) from None
        self._print(heading, results, as_json=as_json)
        failed = [r.kind for r in results if not r.ok]
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(results)} identity check(s) failed: {', '.join(failed)}",
                returncode=1,
            )

    def _print(self, heading: str, results: list[CheckResult], *, as_json: bool) -> None:
        if as_json:
            rows = [
                {"kind": r.kind, "ok": r.ok, "reason": r.reason, "details": r.details}
                for r in results
            ]
            self.stdout.write(json.dumps(rows, indent=2, default=str))
            return
        self.stdout.write(heading)
        for r in results:
            self.stdout.write(f"  {'ok    ' if r.ok else 'FAILED'}  {r.kind}: {r.reason}")
            for line in r.details.get("breaks", []) if not r.ok else []:
                self.stdout.write(f"          breaks: {line}")
