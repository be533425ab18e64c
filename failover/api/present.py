"""Turning rows and verdicts into the API's JSON shapes (see serializers.py for the schema)."""

from __future__ import annotations

from django.urls import reverse

from failover.chain import AuthorityChain


def chain(chain: AuthorityChain) -> dict:
    return {
        "service": chain.service,
        "complete": chain.complete,
        "missing": list(chain.missing),
        "authorities": [
            {
                "authority": e.authority,
                "label": e.label,
                "required": e.required,
                "groups": [{"name": name, "members": list(members)} for name, members in e.groups],
                "users": list(e.users),
                "holders": list(e.holders),
            }
            for e in chain.entries
        ],
    }


def service(obj, chain: AuthorityChain, authorities: set[str]) -> dict:
    return {
        "slug": obj.slug,
        "name": obj.name,
        "description": obj.description,
        "governance_mode": obj.governance_mode,
        "data_residency_region": obj.data_residency_region,
        "customer_segments": list(obj.customer_segments),
        "chain_complete": chain.complete,
        "chain_missing": list(chain.missing),
        "your_authorities": sorted(authorities),
        "targets": [
            {
                "name": t.name,
                "role": t.role,
                "active": t.active,
                "address": t.address,
                "region": t.region,
                "identity_profile": t.identity_profile(),
                "data_residency_region": t.data_residency_region,
            }
            for t in obj.targets.all()
        ],
        "records": [
            {
                "name": r.name,
                "type": r.rtype,
                "ttl": r.ttl,
                "routing": r.routing,
                "set_identifier": r.set_identifier,
                "segment": r.segment,
                "provider_account": r.provider_account.name,
                "zone": r.zone,
                "values": {v.target.name: list(v.values) for v in r.values.all()},
            }
            for r in obj.records.all()
        ],
        "thresholds": [
            {
                "metric": t.metric,
                "comparison": t.comparison,
                "value": t.value,
                "description": t.description,
            }
            for t in obj.thresholds.all()
        ],
    }


def readiness_check(row) -> dict:
    return {
        "id": row.pk,
        "kind": row.kind,
        "ok": row.ok,
        "identity_critical": row.identity_critical,
        "system_veto": row.is_system_veto,
        "reason": row.reason,
        "details": row.details,
        "checked_at": row.checked_at,
        "lifted_by": row.lifted_by.username if row.lifted_by_id else None,
        "lift_reason": row.lift_reason,
        "lifted_at": row.lifted_at,
    }


def request(obj, verdict, gate, readiness=()) -> dict:
    """`gate`: the answer of approvals.gate.may_go_out for the request now (whether it may
    execute, and what changed in the registry since the plan)."""
    drift = gate.drift
    return {
        "id": obj.pk,
        "service": obj.service.slug,
        "target": obj.to_target.name,
        "from_target": obj.from_target.name,
        "segment": obj.segment,
        "state": obj.state,
        "reason": obj.reason,
        "incident_ref": obj.incident_ref,
        "requester": obj.requester.username,
        "rollback_criteria": obj.rollback_criteria,
        "plan": obj.plan,
        "plan_hash": obj.plan_hash,
        "drift": list(drift),
        "missing": [
            {"role": m.role, "authority": m.authority, "needed": m.needed, "have": m.have}
            for m in verdict.missing
        ],
        "blocked_by": [
            {
                "code": b.code,
                "reason": b.reason,
                "decision_id": b.decision_id,
                "check_id": b.check_id,
            }
            for b in verdict.blocked_by
        ]
        + [
            {
                "code": "registry_changed",
                "reason": f"the registry changed since the plan: {d}",
                "decision_id": None,
                "check_id": None,
            }
            for d in drift
        ],
        "readiness": [readiness_check(row) for row in readiness],
        "auth_changes": list(verdict.auth_changes),
        "preapproved_by": verdict.breach.description if verdict.preapproved else None,
        "may_execute": gate.ok,
        "approvals_expire_at": verdict.approvals_expire_at,
        "decisions": [
            {
                "id": d.pk,
                "actor": d.actor.username,
                "kind": d.kind,
                "role": d.role,
                "plan_hash": d.plan_hash,
                "comment": d.comment,
                "channel": d.channel,
                "lifts": d.lifts_id,
                "created_at": d.created_at,
                "counts": d.pk in verdict.counted,
            }
            for d in obj.decisions.all()
        ],
        "changes": [
            {
                "id": c.pk,
                "direction": c.direction,
                "provider_account": c.provider_account.name,
                "zone": c.zone,
                "status": c.status,
                "provider_change_id": c.provider_change_id,
                "attempts": c.attempts,
                "error": c.error,
                "records": c.changes,
                "created_at": c.created_at,
                "submitted_at": c.submitted_at,
                "insync_at": c.insync_at,
                "verified_at": c.verified_at,
            }
            for c in obj.changes.all()
        ],
        "rollback_checks": [
            {"due_at": k.due_at, "evaluated_at": k.evaluated_at, "met": k.met, "result": k.result}
            for k in obj.rollback_checks.all()
        ],
        "created_at": obj.created_at,
        "expires_at": obj.expires_at,
        "approved_at": obj.approved_at,
        "applied_at": obj.applied_at,
        "rollback_proposed_at": obj.rollback_proposed_at,
        "ended_at": obj.ended_at,
    }


def audit_event(e) -> dict:
    return {
        "seq": e.seq,
        "created_at": e.created_at,
        "actor": e.actor,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "data": e.data,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def verification(job, request) -> dict:
    """A verification job, with the URL to poll it at."""
    path = reverse("audit-verification-detail", args=[job.pk])
    return {
        "id": job.pk,
        "url": request.build_absolute_uri(path),
        "state": job.state,
        "requested_by": job.requested_by,
        "requested_at": job.requested_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "total": job.total,
        "verified": job.verified,
        "ok": job.ok,
        "first_broken_seq": job.first_broken_seq,
        "reason": job.reason,
        "checkpoints": job.checkpoints,
    }
