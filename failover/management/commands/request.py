"""Failover requests from the command line: an operator's door onto the same services the
web, API and admin use. `list` and `show` only read. Acting (`--as USER`) stands in for a
person, so it is refused unless DEBUG (the demo) or CLI_OPERATOR_MODE is on; then the act is
checked against the person's authority as before, every audit event names the operator, and
the person is notified (identity/operator.py)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException

from approvals.breakglass import break_glass
from approvals.execution import execute_request, rollback_request
from approvals.kinds import KINDS
from approvals.selectors import verdict_for
from approvals.services import record_decision
from failover.api.parsers import loads
from failover.drift import registry_drift
from failover.errors import ServiceError
from failover.models import FailoverRequest, Service
from failover.services import cancel_request, declare_request, replan_request
from identity.operator import MIN_REASON, REASON_OPTION, acting_for, check_allowed

READ_ONLY = ("list", "show")


class Command(BaseCommand):
    help = "Declare, decide, execute, roll back, cancel or show failover requests."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="open and recent requests")
        show = sub.add_parser("show", help="one request: plan, what is missing, what blocks")
        show.add_argument("id", type=int)
        declare = sub.add_parser("declare", help="propose a failover")
        declare.add_argument("service")
        declare.add_argument("target")
        declare.add_argument("--reason", required=True)
        declare.add_argument("--incident", default="")
        declare.add_argument("--segment", default="")
        declare.add_argument("--rollback-criteria", default="{}", help="JSON object")
        declare.add_argument(
            "--drill",
            action="store_true",
            help="rehearse it on the service's drill records; no traffic moves",
        )
        *kinds, last = KINDS
        decide = sub.add_parser("decide", help=f"{', '.join(kinds)} or {last}")
        decide.add_argument("id", type=int)
        decide.add_argument("kind")
        decide.add_argument("--role", default="")
        decide.add_argument("--comment", default="")
        decide.add_argument("--plan-hash", help="the plan you reviewed (default: current)")
        glass = sub.add_parser(
            "break-glass", help="execute without the missing approvals (break_glass holders)"
        )
        glass.add_argument("id", type=int)
        glass.add_argument("--justification", required=True, help="why (at least 20 characters)")
        glass.add_argument(
            "--veto-justification", default="", help="naming each standing veto it overrides"
        )
        glass.add_argument("--plan-hash", help="the plan you reviewed (default: current)")
        for name in ("execute", "rollback", "cancel", "replan"):
            cmd = sub.add_parser(name)
            cmd.add_argument("id", type=int)
            cmd.add_argument("--reason", default="")
        for name, cmd in sub.choices.items():
            if name in READ_ONLY:
                continue
            cmd.add_argument(
                "--as",
                dest="username",
                help="the person to act for (only with DEBUG or CLI_OPERATOR_MODE on)",
            )
            cmd.add_argument(
                REASON_OPTION,
                dest="operator_reason",
                default="",
                help=f"why you act for them (operator mode; at least {MIN_REASON} characters): "
                "recorded in the audit log and sent to them",
            )

    def handle(self, *args, action, username=None, operator_reason="", **options):
        if action in READ_ONLY:
            request = self.run(action, None, options)
            if request is not None:
                self.show(request)
            return
        if not username:
            raise CommandError("say who is acting with --as USERNAME")
        check_allowed(operator_reason)  # refused before anything is looked up or written
        actor = get_user_model().objects.filter(username=username, is_active=True).first()
        if actor is None:
            raise CommandError(f"no active user {username!r}")
        what = describe(action, options)
        with acting_for(actor, operator_reason, command=f"request {action}", what=what) as act:
            act.request = options.get("id")
            request = self.run(action, actor, options)
            act.request = request if request is not None else act.request
        if act.notice_error == "":
            self.stdout.write(f"{actor.username} was notified by email that you acted for them")
        elif act.notice_error:
            self.stderr.write(
                f"warning: {actor.username} was NOT notified ({act.notice_error}); the act "
                "stands and the failure is in the audit log: tell them yourself"
            )
        if request is not None:
            self.show(request)

    def run(self, action: str, actor, options: dict):
        try:
            return getattr(self, f"do_{action.replace('-', '_')}")(actor, **options)
        except ServiceError as exc:
            fields = getattr(exc, "fields", None) or {}
            details = "".join(f"\n  {field}: {why}" for field, why in fields.items())
            raise CommandError(exc.message + details) from None

    def do_list(self, actor, **options):
        for request in FailoverRequest.objects.select_related("service", "to_target")[:50]:
            self.stdout.write(
                f"#{request.pk:<5} {request.state:<12} {request.service.slug:<20} "
                f"-> {request.to_target.name:<12} {request.incident_ref}"
            )

    def do_show(self, actor, id, **options):
        return self._get(id)

    def do_declare(
        self, actor, service, target, reason, incident, segment, rollback_criteria, drill=False,
        **options,
    ):  # fmt: skip
        try:  # the API's own strict reading: one object, not too deep, plain numbers
            criteria = loads(rollback_criteria.encode())
        except APIException as exc:  # not JSON, too deep, too large
            raise CommandError(f"--rollback-criteria: {exc.detail}") from None
        found = Service.objects.filter(slug=service).first()
        if found is None:
            raise CommandError(f"no service {service!r}")
        return declare_request(
            actor=actor,
            service=found,
            target=target,
            reason=reason,
            incident_ref=incident,
            segment=segment,
            rollback_criteria=criteria,
            channel="cli",
            drill=drill,
        )

    def do_decide(self, actor, id, kind, role, comment, plan_hash, **options):
        request = self._get(id)
        record_decision(
            actor=actor,
            request_id=id,
            kind=kind,
            role=role,
            comment=comment,
            plan_hash=plan_hash or request.plan_hash,
            channel="cli",
        )
        return self._get(id)

    def do_break_glass(self, actor, id, justification, veto_justification, plan_hash, **options):
        request = self._get(id)
        use = break_glass(
            actor=actor,
            request_id=id,
            justification=justification,
            veto_justification=veto_justification,
            plan_hash=plan_hash or request.plan_hash,
            channel="cli",
        )
        self.stdout.write(
            f"break-glass #{use.pk}: went without {', '.join(use.skipped_roles) or 'nothing'}; "
            f"announced, and open for review by two others until closed"
        )
        return self._get(id)

    def do_execute(self, actor, id, **options):
        return execute_request(actor=actor, request_id=id, channel="cli")

    def do_rollback(self, actor, id, reason, **options):
        return rollback_request(actor=actor, request_id=id, reason=reason, channel="cli")

    def do_cancel(self, actor, id, reason, **options):
        return cancel_request(actor=actor, request_id=id, reason=reason)

    def do_replan(self, actor, id, reason, **options):
        """Rebuild the plan from the registry (needs `declare`); says what changed."""
        before = self._get(id)
        drift = registry_drift(before)
        request = replan_request(actor=actor, request_id=id, reason=reason, channel="cli")
        if request.plan_hash == before.plan_hash:
            self.stdout.write("the plan already matches the registry: nothing changed")
        else:
            for difference in drift:
                self.stdout.write(f"registry changed: {difference}")
            self.stdout.write(
                f"re-planned: {before.plan_hash[:12]} -> {request.plan_hash[:12]}; approvals "
                "and sign-offs of the old plan no longer count"
            )
        return request

    @staticmethod
    def _get(request_id: int) -> FailoverRequest:
        request = (
            FailoverRequest.objects.select_related(
                "service", "from_target", "to_target", "requester"
            )
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise CommandError(f"no failover request {request_id}")
        return request

    def show(self, request: FailoverRequest) -> None:
        request.refresh_from_db()
        verdict = verdict_for(request)
        out = self.stdout.write
        out(
            f"#{request.pk} {request.service.slug}: {request.from_target.name} -> "
            f"{request.to_target.name}  [{request.state}]"
        )
        out(f"  requested by {request.requester.username}: {request.reason}")
        out(f"  plan {request.plan_hash}")
        for c in request.plan["changes"]:
            out(
                f"    {c['name']} {c['type']}: {', '.join(c['expected']) or '(absent)'} -> "
                f"{', '.join(c['new']) or '(absent)'}"
            )
        for reason in verdict.auth_changes:
            out(f"  ! {reason}")
        missing = ", ".join(f"{m.role} ({m.have}/{m.needed})" for m in verdict.missing)
        out(f"  missing: {missing or 'nothing'}")
        for block in verdict.blocked_by:
            out(f"  blocked: {block.reason}")
        for difference in registry_drift(request):
            out(f"  blocked: the registry changed since the plan: {difference}")
        for decision in request.decisions.select_related("actor"):
            role = f" as {decision.role}" if decision.role else ""
            out(
                f"  {decision.created_at:%H:%M:%S} {decision.actor.username} {decision.kind}"
                f"{role} {decision.comment}"
            )
        for change in request.changes.all():
            out(
                f"  dns {change.direction} {change.zone}: {change.status} "
                f"{change.provider_change_id} {change.error}"
            )


def describe(action: str, options: dict) -> str:
    """What the act was, in words for the person it was done for."""
    if action == "declare":
        what = "a failover drill" if options.get("drill") else "a failover"
        return f"declare {what} of {options['service']} to {options['target']}"
    if action == "decide":
        role = f" as {options['role']}" if options.get("role") else ""
        return f"decide {options['kind']}{role}"
    return action.replace("-", " ")
