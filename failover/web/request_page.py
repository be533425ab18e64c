"""Everything the request page shows, computed once per HTTP request and split into its three
live parts: status (top), actions (the viewer's buttons), record (plan, checklist, DNS
changes, rollback, audit timeline)."""

from __future__ import annotations

from django.urls import reverse

from approvals.gate import break_glass_of, executes_on, may_go_out
from approvals.kinds import kind_for_role, past_tense
from approvals.models import BreakGlass
from approvals.readiness.selectors import latest_checks, required_secrets, vetoes_among
from approvals.selectors import decision_facts, verdict_for
from failover.chain import authorities_of, authority_chain
from failover.drift import registry_drift
from failover.plans import plan_rows
from failover.rollback import DEFAULTS
from failover.states import OPEN_STATES
from failover.web.actions import available_actions
from failover.web.live import version_of
from failover.web.present import checklist, missing_rows, readiness_rows, timeline

CRITERIA = {
    "min_minutes_on_target": "Stay on the new target at least",
    "primary_healthy_minutes": "Primary healthy before moving back for",
    "decide_within_minutes": "Decide on rollback within",
}


class RequestView:
    def __init__(self, request, obj):
        self.request = request
        self.obj = obj
        self.readiness = latest_checks(obj.pk)
        self.verdict = verdict_for(obj, readiness={obj.pk: self.readiness})
        self.decisions = decision_facts(obj)
        self.chain = authority_chain(obj.service)
        self.authorities = authorities_of(request.user, obj.service)
        self.system_vetoes = vetoes_among(self.readiness)
        # What changed in the registry since the plan: shown, and offered a re-plan for.
        self.drift = registry_drift(obj) if obj.state in OPEN_STATES else []
        self.gate = (
            may_go_out(
                obj,
                verdict=self.verdict,
                known={"break_glass": break_glass_of(obj), "drift": self.drift},
            )
            if obj.state in OPEN_STATES
            else None
        )
        self.executing_role = next(
            (
                m.role
                for m in self.verdict.missing
                if executes_on(
                    obj, self.verdict, kind=kind_for_role(m.role), role=m.role, drift=self.drift
                )
            ),
            None,
        )
        self.actions = available_actions(
            user=request.user,
            request=obj,
            verdict=self.verdict,
            decisions=self.decisions,
            authorities=self.authorities,
            system_vetoes=self.system_vetoes,
            drift=self.drift,
            may_execute=bool(self.gate),
            executing_role=self.executing_role,
        )

    def _live(self, part: str, template: str, context: dict, version=None) -> dict:
        return {
            "element_id": f"request-{part}",
            "url": reverse(f"request-{part}", args=[self.obj.pk]),
            "template": template,
            "context": {"r": self.obj, **context},
            "version": version,
        }

    def status(self) -> dict:
        v = self.verdict
        overridden = BreakGlass.objects.overridden_vetoes(self.obj.pk) if v.standing_vetoes else {}
        return self._live(
            "status",
            "web/_request_status.html",
            {
                "v": v,
                "open": self.obj.state in OPEN_STATES,
                "vetoes": [
                    (d, overridden.get(d.id)) for d in self.decisions if d.id in v.standing_vetoes
                ],
                "blocks": [b.reason for b in v.blocked_by if b.code != "veto"],
                "drift": self.drift,
                "may_execute": bool(self.gate),
                "missing": missing_rows(self.obj, v, self.chain, self.decisions),
                "readiness": readiness_rows(self.readiness),
            },
        )

    def actions_part(self, *, hint: str = "", failed: dict | None = None) -> dict:
        focus = next((a.key for a in self.actions if hint and a.answers(hint)), "")
        if failed:
            focus = failed["key"]
        # Versioned by what can be done, not by the HTML (forms carry a fresh CSRF token per
        # render): a poll replaces the forms only when the viewer's choices really changed.
        failing = [row for row in readiness_rows(self.readiness) if not row["check"].ok]
        version = version_of(
            self.obj.state,
            self.obj.plan_hash,
            *[a.key for a in self.actions],
            *self.drift,
            self.executing_role or "",
            *[row["check"].pk for row in failing],
        )
        return self._live(
            "actions",
            "web/_request_actions.html",
            {
                "actions": self.actions,
                "focus": focus,
                "failed": failed or {},
                "plan_rows": plan_rows(self.obj.plan),
                "hint_unavailable": bool(hint) and not focus,
                "hint": hint,
                "failing_checks": failing,
                "drift": self.drift,
                "required_secrets": required_secrets(self.obj.to_target),
            },
            version=version,
        )

    def record(self) -> dict:
        obj, v = self.obj, self.verdict
        criteria = obj.rollback_criteria or {}
        return self._live(
            "record",
            "web/_request_record.html",
            {
                "v": v,
                "plan_rows": plan_rows(obj.plan),
                "checklist": checklist(
                    obj,
                    v,
                    self.chain,
                    self.decisions,
                    obj.break_glass_uses.select_related("actor").order_by("created_at").first(),
                ),
                "decisions": [
                    {"d": d, "verb": past_tense(d.kind), "counts": d.id in v.counted}
                    for d in self.decisions
                ],
                "changes": list(obj.changes.select_related("provider_account")),
                "rollback_checks": list(obj.rollback_checks.all()),
                "criteria": [
                    (label, f"{criteria.get(key, DEFAULTS[key])} min")
                    for key, label in CRITERIA.items()
                ],
                "criteria_notes": criteria.get("notes", ""),
                "timeline": timeline(obj),
            },
        )
