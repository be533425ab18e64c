"""What a notification says: the generic JSON body, the Slack message and the signature.

Plain data in, plain data out (no models), so the formats are tested without a database.
Nothing here ever sees a secret except `sign`, which returns only the MAC.
"""

from __future__ import annotations

import hashlib
import hmac

EVENTS = (
    "declared",
    "approval_missing",
    "vetoed",
    "approved",
    "applied",
    "failed",
    "rollback_due",
    "rolled_back",
    "break_glass",
)

# The request page the browser views serve takes a hint of what the reader is asked to do.
ACTION_HINTS = {"approval_missing": "approve", "rollback_due": "rollback"}

MAX_REASON = 300  # free text (reasons, comments) is cut so one message stays one screen


def request_url(base: str, request_id: int, event: str) -> str:
    url = f"{base.rstrip('/')}/requests/{request_id}/"
    hint = ACTION_HINTS.get(event)
    return f"{url}?action={hint}" if hint else url


def _cut(text: str, limit: int = MAX_REASON) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing_text(missing: list[dict]) -> str:
    return "; ".join(
        f"{m['role']} ({m['have']}/{m['needed']}) from {', '.join(m['holders']) or 'nobody'}"
        for m in missing
    )


def _skipped_text(details: dict) -> str:
    skipped = details.get("skipped") or []
    overridden = details.get("overridden") or []
    parts = [f"{s['role']} ({', '.join(s['holders']) or 'nobody'})" for s in skipped]
    text = "without the approval of " + "; ".join(parts) if parts else "with nothing missing"
    if overridden:
        text += f", overriding {len(overridden)} standing block(s)"
    return f"{text}: {_cut(details.get('justification', ''))}"


def summary(event: str, service: str, actor: str, request: dict, details: dict) -> str:
    """One readable line: what happened, to which request, and what is asked of whom."""
    what = "DRILL" if request.get("drill") else "Failover"
    head = (
        f"[{service}] {what} #{request['id']} ({request['from_target']} → {request['to_target']})"
    )
    if request.get("drill") and event in ("applied", "rolled_back"):
        # No traffic moves in a drill: saying it did would page people for nothing.
        if event == "applied":
            return f"{head}: the drill records point at {request['to_target']}; putting them back"
        return f"{head} complete: the drill records are back; no traffic moved"
    if event == "declared":
        return f"{head} declared by {actor}: {_cut(request['reason'])}"
    if event == "approval_missing":
        return f"{head} needs {_missing_text(request['missing']) or 'approvals'}"
    if event == "vetoed":
        return f"{head} vetoed by {actor}: {_cut(details.get('comment', ''))}"
    if event == "approved":
        return f"{head} approved; it can be executed"
    if event == "applied":
        return f"{head} applied: traffic now goes to {request['to_target']}"
    if event == "failed":
        return f"{head} failed: {_cut(details.get('reason', ''))}"
    if event == "rollback_due":
        who = ", ".join(details.get("rollback_holders") or []) or "the rollback authority"
        if details.get("trigger") == "deadline_passed":
            return f"{head}: the rollback decision is overdue; paging {who}"
        return f"{head}: rollback criteria met; {who} to decide on rolling back"
    if event == "rolled_back":
        return f"{head} rolled back: traffic is back on {request['from_target']}"
    if event == "break_glass":
        return f"{head} executed under BREAK-GLASS by {actor}, {_skipped_text(details)}"
    return f"{head}: {event}"


def generic_body(
    *,
    event: str,
    occurred_at: str,
    actor: str,
    service: str,
    request: dict,
    details: dict,
    url: str,
) -> dict:
    """The signed JSON body. `request` holds id, state, from_target, to_target, segment,
    reason, incident_ref, drill, plan_hash, missing ([{role, needed, have, holders}]) and
    blocked_by ([reason])."""
    return {
        "event": event,
        "occurred_at": occurred_at,
        "service": service,
        "actor": actor,
        "summary": summary(event, service, actor, request, details),
        "request": request,
        "details": details,
        "url": url,
    }


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions: user text must not ping @channel.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _field(label: str, value: str) -> dict:
    return {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(_cut(value, 1500) or '—')}"}


def slack_body(body: dict) -> dict:
    """A Slack incoming-webhook message (also read by Mattermost and similar: `text` alone
    is a complete message, `blocks` adds the detail)."""
    request = body["request"]
    link = f"<{body['url']}|Open request #{request['id']}>"
    line = _slack_escape(_cut(body["summary"], 2500))
    fields = [
        _field("Service", body["service"]),
        _field("State", request["state"]),
        _field("Move", f"{request['from_target']} → {request['to_target']}"),
        _field("Incident", request["incident_ref"]),
    ]
    if request["missing"]:
        fields.append(_field("Still missing", _missing_text(request["missing"])))
    if request["blocked_by"]:
        fields.append(_field("Blocked by", "; ".join(request["blocked_by"])))
    details = body.get("details") or {}
    if body["event"] == "break_glass":
        fields.append(_field("Justification", details.get("justification", "")))
        for item in details.get("overridden") or []:
            fields.append(_field("Overridden", item.get("reason", "")))
        if details.get("veto_justification"):
            fields.append(_field("Why the veto is overridden", details["veto_justification"]))
    return {
        "text": f"{line} {link}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{line}*"}},
            {"type": "section", "fields": fields},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Reason*: {_slack_escape(_cut(request['reason']))}\n{link}",
                },
            },
        ],
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Failover-Signature` header of a generic notification.

    How a receiver verifies a delivery:

    1. Take the raw request body bytes (before any JSON parsing) and the headers
       `X-Failover-Timestamp` (Unix seconds) and `X-Failover-Signature` ("sha256=<hex>").
    2. Refuse it if the timestamp is more than a few minutes from your clock (replay).
    3. Compute HMAC-SHA256 with the endpoint's secret as key over
       `timestamp + "." + body` and compare "sha256=" + hexdigest with the header using a
       constant-time comparison (Python: `hmac.compare_digest`).
    4. Deliveries are at least once: a retry repeats the same `X-Failover-Delivery` id,
       so remember the ids you have handled and ignore repeats.
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """The receiver's side of `sign` (used by the tests, and a reference for integrators)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")
