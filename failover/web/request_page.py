"""Everything the request page shows, computed once per HTTP request and split into its three
live parts: status (top), actions (the viewer's buttons), record (plan, checklist, DNS
changes, rollback, audit timeline)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import cast

from django.core.cache.backends.base import BaseCache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from approvals.fingerprints import request_fingerprint
from approvals.freshness import fresh_until
from approvals.gate import break_glass_of, executes_on, may_go_out
from approvals.kinds import kind_for_role, past_tense
from approvals.models import BreakGlass
from approvals.readiness.selectors import (
    latest_checks,
    required_secrets,
    vetoes_among,
)
from approvals.selectors import decision_facts, verdict_for
from approvals.templatetags.break_glass import break_glass_of as break_glass_for_viewer
from failover.chain import authorities_of, authority_chain
from failover.degrade import with_cache
from failover.drift import registry_drift
from failover.plans import plan_rows
from failover.rollback import DEFAULTS
from failover.states import OPEN_STATES
from failover.web.access import request_or_404
from failover.web.actions import available_actions
from failover.web.live import (
    MEMO_PREFIX,
    Memo,
    build_part,
    live_response,
    memo_key,
    page_poller,
    shortcut_on,
    unchanged,
    version_of,
)
from failover.web.present import checklist, missing_rows, readiness_rows, timeline

CRITERIA = {
    "min_minutes_on_target": "Stay on the new target at least",
    "primary_healthy_minutes": "Primary healthy before moving back for",
    "decide_within_minutes": "Decide on rollback within",
}
PARTS = ("status", "actions", "record")
FINGERPRINT_SHARED_FOR = 1  # seconds


def fingerprint_of(pk: int) -> str | None:
    """The request page's data fingerprint, to read BEFORE anything the page shows: a change
    landing between the two then leaves a memo under the older fingerprint, which no later
    poll matches."""
    return request_fingerprint(pk) if shortcut_on() else None


def polled_fingerprint(pk: int) -> str | None:
    """The fingerprint for a poll, shared by every viewer for about a second: a request page
    watched by 200 people asks the database once a second, not 100 times. A change then
    reaches a poll at most that second later; page loads and actions read it fresh."""
    if not shortcut_on():
        return None
    key = f"{MEMO_PREFIX}:fingerprint:{pk}"
    found = with_cache(lambda c: cast(BaseCache, c).get(key))
    if isinstance(found, str):
        return found
    fingerprint = request_fingerprint(pk)
    if fingerprint is not None:
        with_cache(
            lambda c: cast(BaseCache, c).set(key, fingerprint, timeout=FINGERPRINT_SHARED_FOR)
        )
    return fingerprint


def answer_poll(request: HttpRequest, pk: int, part: str) -> HttpResponse:
    """A poll of one part of the request page: 204 from the memo when the viewer's version is
    the one built for the data as it is now, else the part is built (and remembered). A memo
    was written only for someone allowed to see the request, and who may see it is part of
    the fingerprint: a hit needs no other read."""
    fingerprint = polled_fingerprint(pk)
    if fingerprint and unchanged(
        request, memo_key(f"request-{part}", request.user.pk, fingerprint)
    ):
        return HttpResponse(status=204)
    view = RequestView(request, request_or_404(request, pk), fingerprint=fingerprint)
    return live_response(request, **view.part_kwargs(part))


def answer_page_poll(request: HttpRequest, pk: int) -> HttpResponse:
    """The request page's one poll, carrying each part's version (`?request-status=...`):
    204 when every part is unchanged (from the memos, nothing built), else the changed parts
    out of band and a new poller carrying their new versions. The page is built once for all
    the parts that changed."""
    fingerprint = polled_fingerprint(pk)
    ids = [f"request-{part}" for part in PARTS]
    if fingerprint and all(
        unchanged(request, memo_key(element_id, request.user.pk, fingerprint), element_id)
        for element_id in ids
    ):
        return HttpResponse(status=204)
    view = RequestView(request, request_or_404(request, pk), fingerprint=fingerprint)
    parts = [
        build_part(request, **view.part_kwargs(part), oob=True)
        for part in PARTS  # each built: a part's version is known only once it is
    ]
    changed = [part for part in parts if request.GET.get(part.element_id) != part.version]
    if not changed:
        return HttpResponse(status=204)
    poller = page_poller("request-live", reverse("request-live", args=[pk]), parts)
    return HttpResponse(poller + "".join(part.html for part in changed))


class RequestView:
    def __init__(self, request, obj, *, fingerprint: str | None = None):
        self.request = request
        self.obj = obj
        self.fingerprint = fingerprint
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

    @cached_property
    def break_glass(self) -> dict:
        """What the viewer may do and see of break-glass: the link, the rollback grant, uses."""
        return break_glass_for_viewer({"user": self.request.user}, self.obj)

    @cached_property
    def fresh_until(self) -> datetime:
        return fresh_until(
            self.obj,
            verdict=self.verdict,
            readiness=self.readiness.values(),
            break_glass=getattr(self.gate, "break_glass", None),
        )

    def _live(self, part: str, template: str, context: dict, version: str | None = None) -> dict:
        memo = None
        if self.fingerprint:
            key = memo_key(f"request-{part}", self.request.user.pk, self.fingerprint)
            memo = Memo(key, self.fresh_until)
        return {
            "element_id": f"request-{part}",
            "url": reverse(f"request-{part}", args=[self.obj.pk]),
            "template": template,
            "context": {"r": self.obj, **context},
            "version": version,
            "memo": memo,
        }

    def part_kwargs(self, part: str) -> dict:
        return self.actions_part() if part == "actions" else getattr(self, part)()

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
                "failing_checks": [
                    row for row in readiness_rows(self.readiness) if not row["check"].ok
                ],
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
            # Break glass comes and goes with the state (gone once applied), the grant with time.
            self.break_glass["may_break"],
            getattr(self.break_glass["rollback_grant"], "pk", ""),
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
                "bg": self.break_glass,
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
                "readiness": readiness_rows(self.readiness),
                "bg": self.break_glass,
            },
        )
