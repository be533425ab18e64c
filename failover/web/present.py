"""Turning verdicts, chains and audit rows into what the pages show: plain dicts and lists,
so templates stay free of rules."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model

from approvals.kinds import missing_word, past_tense
from approvals.policy import DecisionFacts, Verdict
from audit.actions import REQUEST_DECLARED, REQUEST_STATE_CHANGED, decision_kind, dns_step
from audit.models import AuditEvent
from failover.authorities import APPROVAL_ROLES, ROLE_AUTHORITY, ROLE_NAMES
from failover.chain import AuthorityChain
from failover.models import FailoverRequest


def display_names(usernames) -> dict[str, str]:
    """username -> "Full Name (username)" for people shown on a page, in one query."""
    usernames = set(usernames)
    names = {u: u for u in usernames}
    rows = get_user_model().objects.filter(username__in=usernames)
    for username, first, last in rows.values_list("username", "first_name", "last_name"):
        full = f"{first} {last}".strip()
        names[username] = f"{full} ({username})" if full else username
    return names


def authorities_held(chain: AuthorityChain, username: str) -> list[str]:
    """The viewer's authorities on a service, read from its chain (no extra queries)."""
    return [e.authority for e in chain.entries if username in e.holders]


def who_can_give(
    role: str,
    chain: AuthorityChain,
    request: FailoverRequest,
    verdict: Verdict,
    decisions: Sequence[DecisionFacts],
) -> list[str]:
    """Holders of the role's authority who could still count for it: not the requester, not
    someone already counting for another role on this request."""
    holders = chain.entry(ROLE_AUTHORITY[role]).holders
    counted_elsewhere = {
        d.actor for d in decisions if d.id in verdict.counted and verdict.counted[d.id] != role
    }
    return [h for h in holders if h != request.requester.username and h not in counted_elsewhere]


def missing_rows(request, verdict, chain, decisions) -> list[dict]:
    return [
        {
            "role": m.role,
            "role_name": ROLE_NAMES[m.role],
            "kind": missing_word(m.role),
            "needed": m.needed,
            "have": m.have,
            "holders": who_can_give(m.role, chain, request, verdict, decisions),
        }
        for m in verdict.missing
    ]


def blocks(verdict: Verdict) -> tuple[list[str], list[str]]:
    """(vetoes, other blocks) as readable reasons; vetoes are shown in red."""
    vetoes = [b.reason for b in verdict.blocked_by if b.code == "veto"]
    others = [b.reason for b in verdict.blocked_by if b.code != "veto"]
    return vetoes, others


def checklist(request, verdict, chain, decisions, break_glass=None) -> list[dict]:
    """Each required approval or sign-off: how many, given by whom and when, who else can, or
    the break-glass use that went without it."""
    rows = []
    for role, needed in verdict.required.items():
        given = [d for d in decisions if d.id in verdict.counted and verdict.counted[d.id] == role]
        not_counting = [
            {"decision": d, "why": reason}
            for d in decisions
            if d.role == role
            for reason in [r.reason for r in verdict.discounted if r.decision_id == d.id]
        ]
        waived = verdict.preapproved and role in APPROVAL_ROLES
        done = len(given) >= needed or waived
        skipped = not done and break_glass is not None and role in break_glass.skipped_roles
        rows.append(
            {
                "role": role,
                "role_name": ROLE_NAMES[role],
                "kind": missing_word(role),
                "needed": needed,
                "have": len(given),
                "done": done,
                "waived": waived,
                "skipped_by": break_glass if skipped else None,
                "given": given,
                "not_counting": not_counting,
                "holders": who_can_give(role, chain, request, verdict, decisions),
            }
        )
    return rows


def replanned_message(before: FailoverRequest) -> str:
    """What re-planning did, told against the plan the page showed before it."""
    now = FailoverRequest.objects.filter(pk=before.pk).values_list("plan_hash", flat=True).first()
    if now == before.plan_hash:
        return "The plan already matches the registry and the live records: nothing changed."
    return (
        f"Re-planned: plan {now[:12]} replaces {before.plan_hash[:12]}. Approvals and "
        "sign-offs given for the old plan no longer count: ask for them again."
    )


def chain_rows(chain: AuthorityChain, names: dict[str, str]) -> list[dict]:
    return [
        {
            "authority": e.authority,
            "label": e.label,
            "required": e.required,
            "missing": e.required and not e.holders,
            "groups": [
                {"name": group, "members": [names.get(m, m) for m in members]}
                for group, members in e.groups
            ],
            "users": [names.get(u, u) for u in e.users],
        }
        for e in chain.entries
    ]


# --- the audit timeline -------------------------------------------------------------------

_DETAIL_KEYS = (
    "reason",
    "role",
    "comment",
    "status",
    "zone",
    "provider_change_id",
    "error",
    "note",
    "channel",
    "breach",
)


def timeline(request: FailoverRequest) -> list[dict]:
    """The request's audit events and those of its DNS changes, oldest first."""
    change_ids = [str(pk) for pk in request.changes.values_list("pk", flat=True)]
    events = AuditEvent.objects.filter(
        object_type="failover.failoverrequest", object_id=str(request.pk)
    ) | AuditEvent.objects.filter(object_type="dnsproviders.dnschange", object_id__in=change_ids)
    return [_event_row(e) for e in events.order_by("seq")]


def _event_row(event: AuditEvent) -> dict:
    data = event.data or {}
    action = event.action
    if action == REQUEST_STATE_CHANGED:
        title = f"{data.get('from', '?')} → {data.get('to', '?')}"
    elif action == REQUEST_DECLARED:
        title = f"declared {data.get('from_target', '?')} → {data.get('to_target', '?')}"
    elif (kind := decision_kind(action)) is not None:
        title = past_tense(kind)
    elif (step := dns_step(action)) is not None:
        title = "DNS " + step.replace("_", " ")
    else:
        title = action.replace(".", " ").replace("_", " ")
    details = [
        (key.replace("_", " "), str(data[key]))
        for key in _DETAIL_KEYS
        if data.get(key) not in (None, "", [], {})
    ]
    if data.get("plan_hash"):
        details.append(("plan", str(data["plan_hash"])[:12]))
    return {
        "seq": event.seq,
        "at": event.created_at,
        "actor": event.actor,
        "action": action,
        "title": title,
        "details": details,
        "hash": event.hash[:12],
    }


READINESS_ORDER = ("tls", "identity_provider", "secrets", "health")


def readiness_rows(latest: dict) -> list[dict]:
    """The latest readiness check of each kind with the facts a reviewer weighs, in a fixed
    order: certificates per hostname, the issuer found, each secret's rotation."""
    rows = []
    for kind in READINESS_ORDER:
        check = latest.get(kind)
        if check is None:
            continue
        details = check.details or {}
        facts = []
        if kind == "tls":
            for entry in details.get("hostnames", []):
                facts.append(
                    {
                        "label": entry.get("hostname", ""),
                        "ok": entry.get("ok"),
                        "text": entry.get("reason", ""),
                        "extra": [
                            f"{name}: {entry[key]}"
                            for key, name in (
                                ("subject", "subject"),
                                ("issuer", "issuer"),
                                ("not_after", "expires"),
                                ("sha256", "SHA-256"),
                            )
                            if entry.get(key)
                        ],
                    }
                )
        elif kind == "identity_provider":
            for key, name in (
                ("issuer", "expected issuer"),
                ("discovered_issuer", "issuer found"),
                ("jwks_uri", "JWKS"),
                ("jwks_keys", "keys"),
            ):
                if details.get(key) not in (None, ""):
                    facts.append({"label": name, "text": str(details[key])})
        elif kind == "secrets":
            for entry in details.get("secrets", []):
                when = entry.get("rotated_at", "")
                text = entry.get("reason", "") + (f" (rotated {when[:16]} UTC)" if when else "")
                facts.append(
                    {"label": entry.get("secret", ""), "ok": entry.get("ok"), "text": text}
                )
        elif kind == "health":
            facts.append({"label": "URL", "text": details.get("url", "")})
        rows.append({"check": check, "facts": facts})
    return rows
