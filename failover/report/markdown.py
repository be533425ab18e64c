"""The report dict (`evidence.build_report`) as Markdown, for the download and `?as=md`."""

from __future__ import annotations

import json

from failover.report.frameworks import GAP, MET, NOT_APPLICABLE, STATUS_WORDS

MARKS = {MET: "✔ met", GAP: "✖ gap", NOT_APPLICABLE: "○ not applicable"}
LINE_LABELS = {MET: "Evidence", GAP: "Missing", NOT_APPLICABLE: "Why"}


def _cell(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value) or "—"
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _facts(pairs: list[tuple[str, object]]) -> list[str]:
    """A bullet per fact that has a value."""
    return [f"- **{label}:** {_cell(value)}" for label, value in pairs if value] + [""]


def _code(value: str | None) -> str | None:
    return f"`{value}`" if value else None


def verdict_line(v: dict) -> str:
    if not v["ok"]:
        return f"✖ BROKEN at event #{v['first_broken_seq']}: {v['reason']}"
    chain = v["chain"]
    whole = (
        f"whole chain verified ({chain['verified']} events)" if chain["checked"] else chain["note"]
    )
    return f"✔ verified: {v['verified']} event(s) of this request; {whole}"


def render(report: dict) -> str:
    r = report["request"]
    out = [
        f"# Post-incident report: failover #{r['id']}, {r['service']['name']} "
        f"({r['from_target']['name']} → {r['to_target']['name']})",
        "",
        f"Generated {report['report']['generated_at']} (report version "
        f"{report['report']['version']}).",
        "",
        f"**Audit evidence:** {verdict_line(report['verification'])}",
        "",
    ]
    for part in (
        _summary,
        _timeline,
        _decisions,
        _changes,
        _rollback,
        _readiness,
        _break_glass,
        _identities,
        _verification,
        _frameworks,
    ):
        out += part(report)
    return "\n".join(out).rstrip() + "\n"


def _summary(report: dict) -> list[str]:
    r = report["request"]
    service, execution, signal = r["service"], r["execution"], r["origin_signal"]
    alert = executed = None
    if signal:
        alert = (
            f"signal #{signal['id']} from {signal['source']}: "
            f"{signal['metric']} = {signal['value']:g} at {signal['received_at']}"
        )
    if execution:
        executed = f"{execution['at']} by {execution['by'] or 'unknown'}: {execution['reason']}"
        if execution["breach"]:
            executed += f" (breach: {execution['breach']})"
    recomputed = r["plan_hash_recomputed"]
    return [
        "## Summary",
        "",
        *_facts(
            [
                (
                    "Service",
                    f"{service['name']} (`{service['slug']}`, {service['governance_mode']})",
                ),
                ("Move", f"{r['from_target']['name']} → {r['to_target']['name']} ({r['scope']})"),
                ("State", r["state"]),
                ("Reason", r["reason"]),
                ("Incident", r["incident_ref"]),
                ("Opened by alert", alert),
                ("Declared", f"{r['requester']['username']} at {r['created_at']}"),
                ("Approved", r["approved_at"]),
                ("Executed", executed),
                ("Applied", r["applied_at"]),
                ("Ended", r["ended_at"]),
                ("Plan hash", _code(r["plan_hash"])),
                (
                    "Plan hash recomputed",
                    "matches" if recomputed == r["plan_hash"] else f"DIFFERS: `{recomputed}`",
                ),
                ("Sign-in path or data region", r["auth_changes"] or "unchanged"),
            ]
        ),
    ]


def _timeline(report: dict) -> list[str]:
    rows = [
        [e["seq"], e["at"], e["actor"], e["action"], e["summary"], _code(e["hash"])]
        for e in report["timeline"]
    ]
    return ["## Timeline", "", *_table(["#", "time", "actor", "action", "what", "hash"], rows)]


def _decisions(report: dict) -> list[str]:
    if not report["decisions"]:
        return ["## Decisions", "", "None.", ""]
    rows = [
        [
            d["id"],
            d["at"],
            d["actor"],
            d["role"],
            d["kind"],
            f"`{d['plan_hash']}`" + ("" if d["on_request_plan"] else " (another plan)"),
            d["channel"],
            d["comment"],
            d["audit_seq"],
        ]
        for d in report["decisions"]
    ]
    headers = [
        "id",
        "time",
        "person",
        "role",
        "decision",
        "plan hash",
        "channel",
        "comment",
        "audit #",
    ]
    return ["## Decisions", "", *_table(headers, rows)]


def _read(values) -> str:
    if values is None:
        return "not recorded"
    return ", ".join(values) or "nothing"


def _changes(report: dict) -> list[str]:
    lines = ["## DNS changes", ""]
    if not report["dns_changes"]:
        return [*lines, "None: the request was not executed.", ""]
    for c in report["dns_changes"]:
        reads = c["reads"]
        plan = f"`{c['plan_hash']}`" + ("" if c["on_request_plan"] else " (not the request's plan)")
        lines += [f"### {c['direction'].title()} in `{c['zone']}` ({c['status']})", ""]
        lines += _facts(
            [
                ("Provider", f"{c['provider']['name']} ({c['provider']['kind']})"),
                ("Provider change id", _code(c["provider_change_id"]) or "not submitted"),
                ("Plan hash", plan),
                ("Queued", c["created_at"]),
                ("Submitted", c["submitted_at"]),
                ("In sync", c["insync_at"]),
                ("Verified", c["verified_at"]),
                ("Failed", c["failed_at"] and f"{c['failed_at']}: {c['error']}"),
                ("Attempts", str(c["attempts"])),
                (
                    "Live records read before submitting",
                    reads["before_seq"] and f"audit #{reads['before_seq']}",
                ),
                ("Read back after", reads["after_seq"] and f"audit #{reads['after_seq']}"),
                ("Found already applied (not re-sent)", reads["recovered"] and "yes"),
            ]
        )
        rows = [
            [
                x["name"] + (f" [{x['set_identifier']}]" if x["set_identifier"] else ""),
                x["type"],
                x["ttl"],
                x["before"],
                _read(x["read_before"]),
                x["after"],
                _read(x["read_after"]),
            ]
            for x in c["records"]
        ]
        headers = [
            "record",
            "type",
            "TTL",
            "before (plan)",
            "read before",
            "after (plan)",
            "read back",
        ]
        lines += _table(headers, rows)
    return lines


def _rollback(report: dict) -> list[str]:
    rb = report["rollback"]
    c, started = rb["criteria"], rb["started"]
    lines = ["## Rollback criteria and checks", ""]
    lines += _facts(
        [
            ("Minimum time on the target", f"{c['min_minutes_on_target']} min"),
            ("Primary healthy for", f"{c['primary_healthy_minutes']} min"),
            ("Decide within", f"{c['decide_within_minutes']} min"),
            ("Notes", rb["notes"]),
            ("Criteria met", rb["proposed_at"]),
            ("Decision deadline passed", rb["deadline_at"]),
            (
                "Rollback started",
                started and f"{started['at']} by {started['by']}: {started['reason']}",
            ),
        ]
    )
    results = {True: "met", False: "not met", None: "pending"}
    rows = [
        [k["id"], k["due_at"], k["evaluated_at"], results[k["met"]], k["result"].get("reasons", [])]
        for k in rb["checks"]
    ]
    if rows:
        lines += _table(["check", "due", "evaluated", "result", "reasons"], rows)
    return lines


def _lift(check: dict) -> str | None:
    if check["lifted"]:
        lift = check["lifted"]
        return f"lifted by {lift['by']} at {lift['at']}: {lift['reason']}"
    return "standing system veto" if check["system_veto"] else None


def _readiness(report: dict) -> list[str]:
    rd = report["readiness"]
    lines = ["## Readiness evidence", ""]
    rows = [
        [
            k["id"],
            k["checked_at"],
            k["kind"] + (" (identity-critical)" if k["identity_critical"] else ""),
            "ok" if k["ok"] else "FAILED",
            k["reason"],
            "yes" if k["before_execution"] else "no",
            _lift(k),
        ]
        for k in rd["checks"]
    ]
    headers = ["check", "time", "kind", "result", "reason", "before execution", "lift"]
    lines += _table(headers, rows) if rows else ["No readiness checks were recorded.", ""]
    if rd["attestations"]:
        rows = [
            [
                a["secret"],
                a["rotated_at"],
                a["attested_by"],
                a["attested_at"],
                "yes" if a["latest"] else "no",
                a["comment"],
            ]
            for a in rd["attestations"]
        ]
        lines += ["### Secret rotation attestations", ""]
        lines += _table(
            ["secret", "rotated", "attested by", "attested at", "latest", "comment"], rows
        )
    return lines


def _break_glass(report: dict) -> list[str]:
    lines = ["## Break-glass", ""]
    if not report["break_glass"]:
        return [*lines, "Not used.", ""]
    for u in report["break_glass"]:
        overrode = [f"{o.get('kind')} #{o.get('id')}: {o.get('reason')}" for o in u["overridden"]]
        lines += [f"### Break-glass #{u['id']} by {u['actor']} at {u['created_at']}", ""]
        lines += _facts(
            [
                ("Justification", u["justification"]),
                ("Veto justification", u["veto_justification"]),
                ("Overrode", overrode or "nothing"),
                ("Skipped roles", u["skipped_roles"] or "none"),
                ("Plan hash", _code(u["plan_hash"])),
                ("Grant expires", u["expires_at"]),
                ("Review", f"closed {u['review_closed_at']}" if u["review_closed_at"] else "OPEN"),
            ]
        )
        rows = [
            [v["reviewer"], v["holds_approve_identity"], v["at"], v["comment"]]
            for v in u["reviews"]
        ]
        headers = ["reviewer", "identity approver", "time", "comment"]
        lines += _table(headers, rows) if rows else ["No reviews yet.", ""]
    return lines


def _token(t: dict) -> str:
    line = (
        f"{t['name']} ({t['prefix']}…): actions {', '.join(t['actions']) or 'all'}; "
        f"services {', '.join(t['services']) or 'all'}; expires {t['expires_at'] or 'never'}"
    )
    return line + (f"; revoked {t['revoked_at']}" if t["revoked_at"] else "")


def _identities(report: dict) -> list[str]:
    rows = [
        [
            i["username"] or f"#{i['id']} (removed)",
            i["kind"].replace("_", " "),
            i["authorities"],
            i["did"],
            "; ".join(_token(t) for t in i["tokens"]),
            i["integrations"],
        ]
        for i in report["identities"]
    ]
    headers = ["account", "kind", "authorities on the service", "did", "API tokens", "integrations"]
    return ["## Identities that acted", "", *_table(headers, rows)]


def _verification(report: dict) -> list[str]:
    v = report["verification"]
    own, chain = v["request_events"], v["chain"]
    mine = f"{own['verified']} of {v['events']} verified"
    if not own["ok"]:
        mine += f"; broken at #{own['first_broken_seq']}: {own['reason']}"
    if not chain["checked"]:
        whole = chain["note"]
    elif chain["ok"]:
        whole = f"{chain['verified']} events verified"
    else:
        whole = f"broken at #{chain['first_broken_seq']}: {chain['reason']}"
    lines = ["## Audit chain verification", "", verdict_line(v), ""]
    lines += _facts([("This request's events", mine), ("Whole chain", whole)])
    findings = report["secret_scan"]["findings"]
    if findings:
        lines += ["Credential-shaped text was redacted from this report:", ""]
        lines += [f"- {f['what']} in `{f['where']}`" for f in findings] + [""]
    return lines


def _frameworks(report: dict) -> list[str]:
    fw = report["frameworks"]
    counts = ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in fw["summary"].items())
    lines = ["## Framework mapping", "", counts + ".", ""]
    framework = None
    for c in fw["controls"]:
        if c["framework"] != framework:
            framework = c["framework"]
            lines += [f"### {framework}", ""]
        aliases = f" (also {', '.join(c['aliases'])})" if c["aliases"] else ""
        lines += [
            f"#### {MARKS[c['status']]}: {c['id']} {c['title']}{aliases}",
            "",
            f"*Asks:* {c['asks']}",
            "",
            f"{LINE_LABELS[c['status']]}:",
            "",
        ]
        lines += [f"- {' '.join(line.split())}" for line in c["lines"]] + [""]
    return lines


def as_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
