"""The post-incident report of one failover request: everything a reviewer needs, gathered in a
fixed number of queries (about twenty, whatever the number of decisions, changes or events)
into plain JSON data. The page, the Markdown and JSON downloads and the API all render this
one dict, so they never disagree.

Times are UTC ISO 8601 strings. Evidence text that looks like a credential is redacted
(`redact.py`); the audit verification (`verification.py`) runs on the stored events before
that, so redaction never affects it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q
from django.utils import timezone

from approvals.kinds import past_tense
from approvals.models import ApiToken, BreakGlass, BreakGlassReview, Decision
from approvals.policy import auth_path_changes
from approvals.readiness.models import READINESS_CHECK_TYPES, ReadinessCheck, SecretAttestation
from approvals.selectors import policy_of, profile_of
from approvals.timings import timings
from audit.actions import (
    BREAK_GLASS_REVIEWED,
    BREAK_GLASS_USED,
    DNS_PROVIDER_CALL,
    DNS_RECOVERED,
    DNS_SUBMITTED,
    READINESS_CHECKED,
    READINESS_SECRET_ATTESTED,
    READINESS_SYSTEM_VETO_LIFTED,
    REQUEST_DECLARED,
    REQUEST_STATE_CHANGED,
    ROLLBACK_STARTED,
    TARGET_ACTIVATED,
    decision_action,
    decision_kind,
    dns_step,
)
from audit.models import AuditEvent
from dnsproviders.models import DnsChange, RollbackCheck
from failover.chain import authority_chain
from failover.intake.models import Integration
from failover.models import FailoverRequest
from failover.plans import plan_hash
from failover.report.frameworks import assess
from failover.report.redact import redact
from failover.report.verification import verify_report_events
from failover.rollback import DEFAULTS
from identity.proofs import check_proof

REPORT_VERSION = 1


def ts(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(request: FailoverRequest, *, now: datetime | None = None) -> dict:
    """The report of `request` as of now (see the module docstring)."""
    obj = FailoverRequest.objects.select_related(
        "service__policy", "from_target", "to_target", "requester", "origin_signal"
    ).get(pk=request.pk)
    decisions = list(
        Decision.objects.filter(request=obj)
        .select_related("actor", "step_up__passkey")
        .order_by("created_at", "id")
    )
    changes = list(
        DnsChange.objects.filter(request=obj)
        .select_related("provider_account")
        .order_by("created_at", "id")
    )
    rollback_checks = list(RollbackCheck.objects.filter(request=obj).order_by("due_at", "id"))
    checks = list(
        ReadinessCheck.objects.filter(request=obj)
        .select_related("target", "lifted_by")
        .order_by("checked_at", "id")
    )
    attestations = SecretAttestation.objects.filter(target_id=obj.to_target_id)
    if obj.ended_at is not None:  # what was attested later is no evidence for this request
        attestations = attestations.filter(created_at__lte=obj.ended_at)
    attestations = list(
        attestations.select_related("attested_by").order_by("secret_name", "-rotated_at", "-id")
    )
    uses = list(
        BreakGlass.objects.filter(request=obj)
        .select_related("actor")
        .prefetch_related(
            Prefetch(
                "reviews",
                BreakGlassReview.objects.select_related("reviewer").order_by("created_at", "id"),
            )
        )
        .order_by("created_at", "id")
    )
    events = _events(obj, changes, checks, uses)
    verification = verify_report_events(events)
    execution = _execution(events, changes)
    executed_at = execution["at"] if execution else None
    report = {
        "report": {"version": REPORT_VERSION, "generated_at": ts(now or timezone.now())},
        "request": _summary(obj, execution),
        "timeline": [_event_row(e) for e in events],
        "decisions": _decisions(obj, decisions, events, executed_at),
        "dns_changes": _changes(obj, changes, events),
        "providers": _providers(changes),
        "rollback": _rollback(obj, rollback_checks, events),
        "readiness": _readiness(checks, attestations, events, executed_at),
        "break_glass": [_break_glass(obj, use) for use in uses],
        "identities": _identities(obj, events, decisions, checks, attestations, uses),
        "verification": verification,
        "rehearsal": _rehearsal(obj),
    }
    report, findings = redact(report)
    report["secret_scan"] = {"findings": findings}
    report["frameworks"] = assess(report)
    return report


# --- the audit events of the request and of what belongs to it ----------------------------


def _events(obj, changes, checks, uses) -> list[AuditEvent]:
    reviews = [r.pk for use in uses for r in use.reviews.all()]
    scope = (
        Q(object_type="failover.failoverrequest", object_id=str(obj.pk))
        | Q(object_type="dnsproviders.dnschange", object_id__in=[str(c.pk) for c in changes])
        | Q(object_type__in=READINESS_CHECK_TYPES, object_id__in=[str(c.pk) for c in checks])
        | Q(object_type="approvals.breakglass", object_id__in=[str(u.pk) for u in uses])
        | Q(object_type="approvals.breakglassreview", object_id__in=[str(pk) for pk in reviews])
        | Q(
            object_type="failover.target",
            object_id__in=[str(obj.from_target_id), str(obj.to_target_id)],
            action=TARGET_ACTIVATED,
            data__request=obj.pk,
        )
    )
    return list(AuditEvent.objects.filter(scope).order_by("seq"))


def _summary_line(event: AuditEvent) -> str:
    data, action = event.data or {}, event.action
    if action == REQUEST_DECLARED:
        return f"declared {data.get('from_target', '?')} → {data.get('to_target', '?')}"
    if action == REQUEST_STATE_CHANGED:
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"{data.get('from', '?')} → {data.get('to', '?')}{reason}"
    if (kind := decision_kind(action)) is not None:
        role = f" as {data['role']}" if data.get("role") else ""
        plan = f" (plan {str(data['plan_hash'])[:12]})" if data.get("plan_hash") else ""
        return f"{past_tense(kind)}{role}{plan}"
    if action == DNS_PROVIDER_CALL:
        outcome = "ok" if data.get("ok") else f"failed: {data.get('error', '?')}"
        return f"provider {data.get('call', '?')} in {data.get('zone', '?')}: {outcome}"
    if (step := dns_step(action)) is not None:
        change_id = (
            f", provider change {data['provider_change_id']}"
            if data.get("provider_change_id")
            else ""
        )
        error = f": {data['error']}" if data.get("error") else ""
        what = step.replace("_", " ")
        return f"DNS {what} in {data.get('zone', '?')}{change_id}{error}"
    if action == READINESS_CHECKED:
        verdict = "ok" if data.get("ok") else "FAILED"
        return f"readiness {data.get('kind', '?')}: {verdict} ({data.get('reason', '')})"
    if action == BREAK_GLASS_USED:
        return f"break-glass used: {data.get('justification', '')}"
    if action in (READINESS_SYSTEM_VETO_LIFTED, ROLLBACK_STARTED):
        return f"{action.replace('.', ' ').replace('_', ' ')}: {data.get('reason', '')}"
    if action == TARGET_ACTIVATED:
        return f"traffic now goes to {data.get('target', '?')} (was {data.get('previous', '?')})"
    return action.replace(".", " ").replace("_", " ")


def _event_row(event: AuditEvent) -> dict:
    return {
        "seq": event.seq,
        "at": ts(event.created_at),
        "actor": event.actor,
        "action": event.action,
        "object": f"{event.object_type}:{event.object_id}",
        "summary": _summary_line(event),
        "data": event.data,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def _execution(events, changes) -> dict | None:
    """When, by whom and why the failover started: the transition to executing, else (the
    event missing) the first failover change row."""
    for event in events:
        if event.action == REQUEST_STATE_CHANGED and event.data.get("to") == "executing":
            data = event.data
            return {
                "at": event.created_at,
                "by": event.actor,
                "reason": data.get("reason", ""),
                "channel": data.get("channel", ""),
                "breach": data.get("breach"),
                "triggered_by": data.get("triggered_by"),
                "seq": event.seq,
            }
    first = next((c for c in changes if c.direction == "failover"), None)
    if first is None:
        return None
    return {
        "at": first.created_at,
        "by": None,
        "reason": "",
        "channel": "",
        "breach": None,
        "triggered_by": None,
        "seq": None,
    }


# --- sections -------------------------------------------------------------------------------


def _target(target) -> dict:
    return {
        "name": target.name,
        "role": target.role,
        "address": target.address,
        "region": target.region,
        "cloud_account": target.cloud_account,
        "oidc_issuer": target.oidc_issuer,
        "certificate_trust": target.certificate_trust,
        "secret_store": target.secret_store,
        "data_residency_region": target.data_residency_region,
    }


def _summary(obj: FailoverRequest, execution: dict | None) -> dict:
    policy = policy_of(obj.service)
    signal = obj.origin_signal
    return {
        "id": obj.pk,
        "service": {
            "slug": obj.service.slug,
            "name": obj.service.name,
            "governance_mode": obj.service.governance_mode,
        },
        "policy": {
            "required_availability": policy.required_availability,
            "required_identity": policy.required_identity,
            "require_comms_sign_off": policy.require_comms_sign_off,
            "approval_validity_minutes": policy.approval_validity_minutes,
            "execute_on_approval": policy.execute_on_approval,
        },
        "from_target": _target(obj.from_target),
        "to_target": _target(obj.to_target),
        "segment": obj.segment,
        "scope": f"customer segment {obj.segment}" if obj.segment else "all governed records",
        "reason": obj.reason,
        "incident_ref": obj.incident_ref,
        "drill": obj.drill,
        "requester": {"id": obj.requester_id, "username": obj.requester.get_username()},
        "state": obj.state,
        "plan": obj.plan,
        "plan_hash": obj.plan_hash,
        "plan_hash_recomputed": plan_hash(obj.plan),
        "auth_changes": list(
            auth_path_changes(profile_of(obj.from_target), profile_of(obj.to_target))
        ),
        "created_at": ts(obj.created_at),
        "approved_at": ts(obj.approved_at),
        "applied_at": ts(obj.applied_at),
        "rollback_proposed_at": ts(obj.rollback_proposed_at),
        "rollback_deadline_at": ts(obj.rollback_deadline_at),
        "ended_at": ts(obj.ended_at),
        "expires_at": ts(obj.expires_at),
        "origin_signal": None
        if signal is None
        else {
            "id": signal.pk,
            "metric": signal.metric,
            "value": signal.value,
            "status": signal.status,
            "source": signal.source,
            "external_id": signal.external_id,
            "summary": signal.summary,
            "received_at": ts(signal.received_at),
        },
        "execution": None if execution is None else {**execution, "at": ts(execution["at"])},
    }


def _rehearsal(obj: FailoverRequest) -> dict:
    """How rehearsed this was: a drill's own figures; for a real request, the service's last
    completed drill before it, and whether it fell within the policy's window."""
    window = policy_of(obj.service).drill_window_days or 30
    if obj.drill:
        return {"drill": True, "window_days": window, "seconds": timings([obj])[obj.pk]}
    last = (
        FailoverRequest.objects.filter(
            service_id=obj.service_id, drill=True, state="closed", created_at__lt=obj.created_at
        )
        .order_by("-created_at")
        .first()
    )
    if last is None:
        return {"drill": False, "window_days": window, "last_drill": None, "within_window": False}
    days = round((obj.created_at - last.created_at).total_seconds() / 86400, 1)
    return {
        "drill": False,
        "window_days": window,
        "last_drill": {
            "id": last.pk,
            "declared_at": ts(last.created_at),
            "days_before": days,
            "seconds": timings([last])[last.pk],
        },
        "within_window": days <= window,
    }


def _decision_seqs(events) -> dict:
    """Audit seq of each decision, by id: the first decision event (its kind's, or its
    voiding) naming it."""
    found: dict = {}
    for e in events:
        if decision_kind(e.action) is not None and e.data.get("decision_id") is not None:
            found.setdefault(e.data["decision_id"], e.seq)
    return found


def _decisions(obj, decisions, events, executed_at) -> list[dict]:
    seqs = _decision_seqs(events)
    lifted = {d.lifts_id: d.pk for d in decisions if d.lifts_id}
    return [
        {
            "id": d.pk,
            "kind": d.kind,
            "role": d.role,
            "actor": d.actor.get_username(),
            "actor_id": d.actor_id,
            "at": ts(d.created_at),
            "plan_hash": d.plan_hash,
            "on_request_plan": d.plan_hash == obj.plan_hash,
            "before_execution": executed_at is None or d.created_at <= executed_at,
            "age_at_execution_minutes": None
            if executed_at is None
            else round((executed_at - d.created_at).total_seconds() / 60, 1),
            "comment": d.comment,
            "channel": d.channel,
            "lifts": d.lifts_id,
            "lifted_by": lifted.get(d.pk),
            "audit_seq": seqs.get(d.pk),
            "step_up": _step_up(d.step_up),
        }
        for d in decisions
    ]


def _step_up(proof) -> dict | None:
    """How the decider proved it was them; a passkey's signature is checked again now."""
    if proof is None:
        return None
    verified, detail = check_proof(proof) if proof.method == "passkey" else (None, "")
    return {
        "proof_id": proof.pk,
        "method": proof.method,
        "credential_id": proof.credential_id,
        "verified": verified,
        "detail": detail,
    }


def _record_key(r: dict) -> str:
    """How the executor names a record in a provider read (`dns.provider_call` result)."""
    set_id = r.get("set_identifier") or ""
    return f"{r['name']} {r['type']}" + (f" [{set_id}]" if set_id else "")


def _reads(own: list[AuditEvent]) -> tuple[AuditEvent | None, AuditEvent | None]:
    """The provider reads of one change: the last before it was submitted (what the records
    held) and the last after (the read-back)."""
    reads = [
        e
        for e in own
        if e.action == DNS_PROVIDER_CALL and e.data.get("call") == "read" and e.data.get("ok")
    ]
    submitted = next((e.seq for e in own if e.action == DNS_SUBMITTED), None)
    if submitted is None:
        return (reads[0] if reads else None), None
    before = [e for e in reads if e.seq < submitted]
    after = [e for e in reads if e.seq > submitted]
    return (before[-1] if before else None), (after[-1] if after else None)


def _changes(obj, changes, events) -> list[dict]:
    rows = []
    for c in changes:
        own = [
            e
            for e in events
            if e.object_type == "dnsproviders.dnschange" and e.object_id == str(c.pk)
        ]
        read_before, read_after = _reads(own)
        # A first attempt sends the batch without reading: the provider's all-or-nothing
        # compare-and-swap (it deletes exactly the plan's `before`) accepting it is the proof.
        swapped = None if read_before else next((e for e in own if e.action == DNS_SUBMITTED), None)
        seen_before = (read_before.data.get("result") or {}) if read_before else {}
        seen_after = (read_after.data.get("result") or {}) if read_after else {}
        recovered = any(e.action == DNS_RECOVERED for e in own)
        rows.append(
            {
                "id": c.pk,
                "direction": c.direction,
                "provider": {"name": c.provider_account.name, "kind": c.provider_account.kind},
                "zone": c.zone,
                "status": c.status,
                "provider_change_id": c.provider_change_id,
                "attempts": c.attempts,
                "plan_hash": c.plan_hash,
                "on_request_plan": c.plan_hash == obj.plan_hash,
                "created_at": ts(c.created_at),
                "submitted_at": ts(c.submitted_at),
                "insync_at": ts(c.insync_at),
                "verified_at": ts(c.verified_at),
                "failed_at": ts(c.failed_at),
                "error": c.error,
                "error_code": c.error_code,
                # `before`/`after` are the plan's (a batch applies only when the live records
                # equal `before`: compare-and-swap); `read_before`/`read_after` are what the
                # provider answered to a read, as recorded in the audit chain (a first attempt
                # reads nothing before: `reads.swap_seq` is the accepted batch).
                "records": [
                    {
                        "name": r["name"],
                        "type": r["type"],
                        "ttl": r.get("ttl"),
                        "set_identifier": r.get("set_identifier", ""),
                        "before": list(r.get("expected", [])),
                        "after": list(r.get("new", [])),
                        "read_before": seen_before.get(_record_key(r)) if read_before else None,
                        "read_after": seen_after.get(_record_key(r)) if read_after else None,
                    }
                    for r in c.changes
                ],
                "reads": {
                    "before_seq": read_before.seq if read_before else None,
                    "swap_seq": swapped.seq if swapped else None,
                    "after_seq": read_after.seq if read_after else None,
                    "recovered": recovered,
                },
                "audit_seqs": [e.seq for e in own],
            }
        )
    return rows


def _providers(changes) -> list[dict]:
    accounts = {c.provider_account_id: c.provider_account for c in changes}
    rows = []
    for account in accounts.values():
        try:
            account.clean()
            problem = ""
        except ValidationError as exc:
            problem = "; ".join(exc.messages)
        rows.append(
            {
                "name": account.name,
                "kind": account.kind,
                "settings_keys": sorted(account.settings or {}),
                "credentials_by_reference": not problem,
                "problem": problem,
            }
        )
    return rows


def _rollback(obj, rollback_checks, events) -> dict:
    criteria = {**DEFAULTS, **(obj.rollback_criteria or {})}
    started = next((e for e in events if e.action == ROLLBACK_STARTED), None)
    return {
        "criteria": {k: v for k, v in criteria.items() if k != "notes"},
        "notes": criteria.get("notes", ""),
        "proposed_at": ts(obj.rollback_proposed_at),
        "deadline_at": ts(obj.rollback_deadline_at),
        "checks": [
            {
                "id": k.pk,
                "due_at": ts(k.due_at),
                "evaluated_at": ts(k.evaluated_at),
                "met": k.met,
                "result": k.result,
            }
            for k in rollback_checks
        ],
        "started": None
        if started is None
        else {
            "at": ts(started.created_at),
            "by": started.actor,
            "reason": started.data.get("reason", ""),
            "criteria_met": started.data.get("criteria_met"),
            "seq": started.seq,
        },
    }


def _readiness(checks, attestations, events, executed_at) -> dict:
    seqs = {
        e.object_id: e.seq
        for e in events
        if e.object_type in READINESS_CHECK_TYPES and e.action == READINESS_CHECKED
    }
    seen: set[str] = set()
    rows = []
    for a in attestations:
        rows.append(
            {
                "secret": a.secret_name,
                "rotated_at": ts(a.rotated_at),
                "attested_by": a.attested_by.get_username(),
                "attested_at": ts(a.created_at),
                "comment": a.comment,
                "latest": a.secret_name not in seen,
                "before_execution": executed_at is None or a.created_at <= executed_at,
            }
        )
        seen.add(a.secret_name)
    return {
        "checks": [
            {
                "id": c.pk,
                "kind": c.kind,
                "target": c.target.name,
                "identity_critical": c.identity_critical,
                "ok": c.ok,
                "reason": c.reason,
                "details": c.details,
                "checked_at": ts(c.checked_at),
                "before_execution": executed_at is None or c.checked_at <= executed_at,
                "system_veto": c.is_system_veto,
                "lifted": None
                if c.lifted_at is None
                else {
                    "by": c.lifted_by.get_username() if c.lifted_by_id else None,
                    "reason": c.lift_reason,
                    "at": ts(c.lifted_at),
                },
                "audit_seq": seqs.get(str(c.pk)),
            }
            for c in checks
        ],
        "attestations": rows,
        # A failing identity-critical check blocks execution only while this is on.
        "system_veto_enforced": bool(settings.READINESS_SYSTEM_VETO),
    }


def _break_glass(obj, use: BreakGlass) -> dict:
    return {
        "id": use.pk,
        "actor": use.actor.get_username(),
        "actor_id": use.actor_id,
        "justification": use.justification,
        "veto_justification": use.veto_justification,
        "overridden": list(use.overridden or []),
        "skipped_roles": list(use.skipped_roles or []),
        "plan_hash": use.plan_hash,
        "on_request_plan": use.plan_hash == obj.plan_hash,
        "created_at": ts(use.created_at),
        "expires_at": ts(use.expires_at),
        "review_open": use.review_open,
        "review_closed_at": ts(use.review_closed_at),
        "reviews": [
            {
                "id": r.pk,
                "reviewer": r.reviewer.get_username(),
                "reviewer_id": r.reviewer_id,
                "holds_approve_identity": r.holds_approve_identity,
                "comment": r.comment,
                "at": ts(r.created_at),
            }
            for r in use.reviews.all()
        ],
    }


def _identities(obj, events, decisions, checks, attestations, uses) -> list[dict]:
    """Every account that acted on the request, human or not, with its authorities on the
    service; for non-human ones (service accounts, paging-tool accounts) also their API tokens'
    scopes and lifetimes and the integrations they back."""
    did: dict[int, set[str]] = {}

    def add(user_id, what):
        if user_id is not None:
            did.setdefault(user_id, set()).add(what)

    add(obj.requester_id, REQUEST_DECLARED)
    for e in events:
        add(e.actor_id, e.action)
    for d in decisions:
        add(d.actor_id, decision_action(d.kind))
    for c in checks:
        add(c.lifted_by_id, READINESS_SYSTEM_VETO_LIFTED)
    for a in attestations:
        add(a.attested_by_id, READINESS_SECRET_ATTESTED)
    for use in uses:
        add(use.actor_id, BREAK_GLASS_USED)
        for r in use.reviews.all():
            add(r.reviewer_id, BREAK_GLASS_REVIEWED)
    users = {
        u.pk: u
        for u in get_user_model().objects.filter(pk__in=did).select_related("service_account")
    }
    integrations: dict[int, list[str]] = {}
    for account_id, name, active in Integration.objects.filter(account_id__in=did).values_list(
        "account_id", "name", "active"
    ):
        integrations.setdefault(account_id, []).append(name if active else f"{name} (inactive)")
    machine = {pk for pk, u in users.items() if _has_service_account(u) or pk in integrations}
    tokens: dict[int, list[dict]] = {}
    if machine:
        for t in ApiToken.objects.filter(user_id__in=machine).prefetch_related("services"):
            tokens.setdefault(t.user_id, []).append(
                {
                    "name": t.name,
                    "prefix": t.prefix,
                    "actions": list(t.actions or []),
                    "services": sorted(s.slug for s in t.services.all()),
                    "created_at": ts(t.created_at),
                    "expires_at": ts(t.expires_at),
                    "revoked_at": ts(t.revoked_at),
                    "last_used_at": ts(t.last_used_at),
                }
            )
    chain = authority_chain(obj.service)
    rows = []
    for pk in sorted(did):
        user = users.get(pk)
        username = user.get_username() if user else None
        rows.append(
            {
                "id": pk,
                "username": username,
                "known": user is not None,
                "active": bool(user and user.is_active),
                "kind": "service_account" if pk in machine else "human",
                "did": sorted(did[pk]),
                "authorities": [e.authority for e in chain.entries if username in e.holders],
                "tokens": tokens.get(pk, []),
                "integrations": integrations.get(pk, []),
            }
        )
    return rows


def _has_service_account(user) -> bool:
    return hasattr(user, "service_account")  # a missing reverse one-to-one raises
