"""The report dict (`evidence.build_report`) as Markdown, for the download and `?as=md`.

Every value in the report can be user-written (reasons, comments, names, a paging tool's
summary): `text` escapes it so any Markdown renderer shows it as text. HTML, autolinks and
entities lose their `<` and `&`, links, images and reference definitions their brackets,
emphasis its markers, and bare URLs the `://`, `www.` or `@` a renderer's linkify looks for.
Markup this module writes itself is an `Md` string and passes through as is."""

from __future__ import annotations

import json
import re

from failover.report.frameworks import GAP, MET, NOT_APPLICABLE, STATUS_WORDS

MARKS = {MET: "✔ met", GAP: "✖ gap", NOT_APPLICABLE: "○ not applicable"}
LINE_LABELS = {MET: "Evidence", GAP: "Missing", NOT_APPLICABLE: "Why"}
ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "@": "&#64;"}
BACKSLASHED = set("\\`*_[]{}~#")


class Md(str):
    """Markdown composed here, with every user-written part already escaped."""


def _one_line(value) -> str:
    return " ".join(str(value).splitlines())  # no line may start a block of its own


def text(value) -> Md:
    """`value` as Markdown that renders as exactly this text, on one line."""
    if isinstance(value, Md):
        return value
    s = _one_line(value)
    out = []
    for i, ch in enumerate(s):
        if ch in ENTITIES:
            out.append(ENTITIES[ch])
        elif ch in BACKSLASHED:
            out.append("\\" + ch)
        elif ch == ":" and s.startswith("//", i + 1):  # http://, not a timestamp's colons
            out.append("&#58;")
        elif ch == "." and s[max(0, i - 3) : i].lower() == "www":
            out.append("&#46;")
        else:
            out.append(ch)
    return Md("".join(out))


def code(value) -> Md | None:
    """`value` as a code span (shown verbatim, never parsed), or None when empty."""
    if value is None or value == "":
        return None
    s = _one_line(value)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith(("`", " ")) or s.endswith(("`", " ")) else ""
    return Md(f"{fence}{pad}{s}{pad}{fence}")


def md(template: str, *values) -> Md:
    """`template` (ours) with `{}` filled by escaped `values` (Md values pass as they are)."""
    return Md(template.format(*(text(v) for v in values)))


def _cell(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        value = Md(", ".join(text(v) for v in value)) or "—"
    return text(value).replace("|", "\\|")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _facts(pairs: list[tuple[str, object]]) -> list[str]:
    """A bullet per fact that has a value."""
    return [f"- **{label}:** {_cell(value)}" for label, value in pairs if value] + [""]


def _code(value: str | None) -> Md | None:
    return code(value)


def verdict_line(v: dict) -> Md:
    if not v["ok"]:
        return md("✖ BROKEN at event #{}: {}", v["first_broken_seq"], v["reason"])
    chain = v["chain"]
    whole = (
        md("whole chain verified ({} events)", chain["verified"])
        if chain["checked"]
        else text(chain["note"])
    )
    return md("✔ verified: {} event(s) of this request; {}", v["verified"], whole)


def render(report: dict) -> str:
    r = report["request"]
    out = [
        "# "
        + md(
            "Post-incident report: {} #{}, {} ({} → {})",
            "drill" if r.get("drill") else "failover",
            r["id"],
            r["service"]["name"],
            r["from_target"]["name"],
            r["to_target"]["name"],
        ),
        "",
        md(
            "Generated {} (report version {}).",
            report["report"]["generated_at"],
            report["report"]["version"],
        ),
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
        _rehearsal,
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
        alert = md(
            "signal #{} from {}: {} = {} at {}",
            signal["id"],
            signal["source"],
            signal["metric"],
            f"{signal['value']:g}",
            signal["received_at"],
        )
    if execution:
        executed = md(
            "{} by {}: {}", execution["at"], execution["by"] or "unknown", execution["reason"]
        )
        if execution["breach"]:
            executed = Md(executed + md(" (breach: {})", execution["breach"]))
    recomputed = r["plan_hash_recomputed"]
    return [
        "## Summary",
        "",
        *_facts(
            [
                (
                    "Service",
                    md(
                        "{} ({}, {})",
                        service["name"],
                        code(service["slug"]),
                        service["governance_mode"],
                    ),
                ),
                (
                    "Move",
                    md(
                        "{} → {} ({})",
                        r["from_target"]["name"],
                        r["to_target"]["name"],
                        r["scope"],
                    ),
                ),
                ("State", r["state"]),
                ("Reason", r["reason"]),
                ("Incident", r["incident_ref"]),
                ("Opened by alert", alert),
                ("Declared", md("{} at {}", r["requester"]["username"], r["created_at"])),
                ("Approved", r["approved_at"]),
                ("Executed", executed),
                ("Applied", r["applied_at"]),
                ("Ended", r["ended_at"]),
                ("Plan hash", code(r["plan_hash"])),
                (
                    "Plan hash recomputed",
                    "matches"
                    if recomputed == r["plan_hash"]
                    else md("DIFFERS: {}", code(recomputed)),
                ),
                ("Sign-in path or data region", r["auth_changes"] or "unchanged"),
            ]
        ),
    ]


def _timeline(report: dict) -> list[str]:
    rows = [
        [e["seq"], e["at"], e["actor"], e["action"], e["summary"], code(e["hash"])]
        for e in report["timeline"]
    ]
    return ["## Timeline", "", *_table(["#", "time", "actor", "action", "what", "hash"], rows)]


def _plan(plan_hash, on_plan: bool, other: str) -> Md:
    return Md((code(plan_hash) or "—") + ("" if on_plan else f" ({other})"))


def _confirmed(step_up: dict | None) -> str:
    if step_up is None:
        return "—"
    if step_up["verified"] is None:
        return step_up["method"]
    verdict = "verifies" if step_up["verified"] else f"DOES NOT VERIFY: {step_up['detail']}"
    return f"{step_up['method']} (signature {verdict})"


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
            _plan(d["plan_hash"], d["on_request_plan"], "another plan"),
            d["channel"],
            _confirmed(d["step_up"]),
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
        "confirmed with",
        "comment",
        "audit #",
    ]
    return ["## Decisions", "", *_table(headers, rows)]


def _read(values) -> Md:
    if values is None:
        return Md("not recorded")
    return Md(", ".join(text(v) for v in values) or "nothing")


def _changes(report: dict) -> list[str]:
    lines = ["## DNS changes", ""]
    if not report["dns_changes"]:
        return [*lines, "None: the request was not executed.", ""]
    for c in report["dns_changes"]:
        reads = c["reads"]
        plan = _plan(c["plan_hash"], c["on_request_plan"], "not the request's plan")
        lines += [
            "### " + md("{} in {} ({})", c["direction"].title(), code(c["zone"]), c["status"]),
            "",
        ]
        lines += _facts(
            [
                ("Provider", md("{} ({})", c["provider"]["name"], c["provider"]["kind"])),
                ("Provider change id", code(c["provider_change_id"]) or "not submitted"),
                ("Plan hash", plan),
                ("Queued", c["created_at"]),
                ("Submitted", c["submitted_at"]),
                ("In sync", c["insync_at"]),
                ("Verified", c["verified_at"]),
                ("Failed", c["failed_at"] and md("{}: {}", c["failed_at"], c["error"])),
                ("Attempts", str(c["attempts"])),
                (
                    "Live records read before submitting",
                    reads["before_seq"] and f"audit #{reads['before_seq']}",
                ),
                (
                    "Live records proved by the accepted compare-and-swap",
                    reads.get("swap_seq") and f"audit #{reads['swap_seq']}",
                ),
                ("Read back after", reads["after_seq"] and f"audit #{reads['after_seq']}"),
                ("Found already applied (not re-sent)", reads["recovered"] and "yes"),
            ]
        )
        rows = [
            [
                md("{} [{}]", x["name"], x["set_identifier"]) if x["set_identifier"] else x["name"],
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
            ("Minimum time on the target", md("{} min", c["min_minutes_on_target"])),
            ("Primary healthy for", md("{} min", c["primary_healthy_minutes"])),
            ("Decide within", md("{} min", c["decide_within_minutes"])),
            ("Notes", rb["notes"]),
            ("Criteria met", rb["proposed_at"]),
            ("Decision deadline passed", rb["deadline_at"]),
            (
                "Rollback started",
                started and md("{} by {}: {}", started["at"], started["by"], started["reason"]),
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


def _lift(check: dict) -> Md | None:
    if check["lifted"]:
        lift = check["lifted"]
        return md("lifted by {} at {}: {}", lift["by"], lift["at"], lift["reason"])
    return Md("standing system veto") if check["system_veto"] else None


def _readiness(report: dict) -> list[str]:
    rd = report["readiness"]
    lines = ["## Readiness evidence", ""]
    rows = [
        [
            k["id"],
            k["checked_at"],
            md("{}{}", k["kind"], " (identity-critical)" if k["identity_critical"] else ""),
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
        overrode = [
            md("{} #{}: {}", o.get("kind"), o.get("id"), o.get("reason")) for o in u["overridden"]
        ]
        lines += ["### " + md("Break-glass #{} by {} at {}", u["id"], u["actor"], u["created_at"])]
        lines += [""]
        lines += _facts(
            [
                ("Justification", u["justification"]),
                ("Veto justification", u["veto_justification"]),
                ("Overrode", overrode or "nothing"),
                ("Skipped roles", u["skipped_roles"] or "none"),
                ("Plan hash", code(u["plan_hash"])),
                ("Grant expires", u["expires_at"]),
                (
                    "Review",
                    md("closed {}", u["review_closed_at"]) if u["review_closed_at"] else "OPEN",
                ),
            ]
        )
        rows = [
            [v["reviewer"], v["holds_approve_identity"], v["at"], v["comment"]]
            for v in u["reviews"]
        ]
        headers = ["reviewer", "identity approver", "time", "comment"]
        lines += _table(headers, rows) if rows else ["No reviews yet.", ""]
    return lines


def _token(t: dict) -> Md:
    line = md(
        "{} ({}…): actions {}; services {}; expires {}",
        t["name"],
        t["prefix"],
        ", ".join(t["actions"]) or "all",
        ", ".join(t["services"]) or "all",
        t["expires_at"] or "never",
    )
    return Md(line + (md("; revoked {}", t["revoked_at"]) if t["revoked_at"] else ""))


def _identities(report: dict) -> list[str]:
    rows = [
        [
            i["username"] or md("#{} (removed)", i["id"]),
            i["kind"].replace("_", " "),
            i["authorities"],
            i["did"],
            Md("; ".join(_token(t) for t in i["tokens"])),
            i["integrations"],
        ]
        for i in report["identities"]
    ]
    headers = ["account", "kind", "authorities on the service", "did", "API tokens", "integrations"]
    return ["## Identities that acted", "", *_table(headers, rows)]


def _seconds(seconds: dict) -> list[list]:
    rows = [[f"{role} decided", f"{value:g} s"] for role, value in seconds["roles"].items()]
    return rows + [
        [step, "—" if seconds[step] is None else f"{seconds[step]:g} s"]
        for step in ("quorum", "verified", "applied")
    ]


def _rehearsal(report: dict) -> list[str]:
    rehearsal = report.get("rehearsal")
    if not rehearsal:
        return []
    lines = ["## Rehearsal", ""]
    if rehearsal["drill"]:
        lines += [text("This request is a drill: no traffic moved. From its declaration:"), ""]
        return lines + _table(["step", "seconds"], _seconds(rehearsal["seconds"])) + [""]
    last = rehearsal["last_drill"]
    if last is None:
        return [*lines, text("No completed drill of this service before this failover."), ""]
    lines += [
        md(
            "Last completed drill: #{} declared {}, {} days before ({} the {}-day window).",
            last["id"],
            last["declared_at"],
            f"{last['days_before']:g}",
            "within" if rehearsal["within_window"] else "outside",
            rehearsal["window_days"],
        ),
        "",
    ]
    return lines + _table(["step", "seconds"], _seconds(last["seconds"])) + [""]


def _verification(report: dict) -> list[str]:
    v = report["verification"]
    own, chain = v["request_events"], v["chain"]
    mine = md("{} of {} verified", own["verified"], v["events"])
    if not own["ok"]:
        mine = Md(mine + md("; broken at #{}: {}", own["first_broken_seq"], own["reason"]))
    if not chain["checked"]:
        whole = chain["note"]
    elif chain["ok"]:
        whole = md("{} events verified", chain["verified"])
    else:
        whole = md("broken at #{}: {}", chain["first_broken_seq"], chain["reason"])
    lines = ["## Audit chain verification", "", verdict_line(v), ""]
    lines += _facts([("This request's events", mine), ("Whole chain", whole)])
    findings = report["secret_scan"]["findings"]
    if findings:
        lines += ["Credential-shaped text was redacted from this report:", ""]
        lines += [md("- {} in {}", f["what"], code(f["where"])) for f in findings] + [""]
    return lines


def _frameworks(report: dict) -> list[str]:
    fw = report["frameworks"]
    counts = ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in fw["summary"].items())
    lines = ["## Framework mapping", "", text(counts + "."), ""]
    framework = None
    for c in fw["controls"]:
        if c["framework"] != framework:
            framework = c["framework"]
            lines += ["### " + text(framework), ""]
        aliases = md(" (also {})", ", ".join(c["aliases"])) if c["aliases"] else ""
        lines += [
            "#### " + md("{}: {} {}{}", MARKS[c["status"]], c["id"], c["title"], Md(aliases)),
            "",
            "*Asks:* " + text(c["asks"]),
            "",
            f"{LINE_LABELS[c['status']]}:",
            "",
        ]
        lines += ["- " + text(" ".join(line.split())) for line in c["lines"]] + [""]
    return lines


def as_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
