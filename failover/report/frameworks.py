"""How one failover maps onto the controls the seed article names — NIST CSF 2.0 recovery
planning (RC.RP) and identity management, authentication and access control (PR.AA, which
replaced CSF 1.1's PR.AC), and the OWASP Non-Human Identity Top 10 (2025).

All mapping data lives here. To extend it, append a `Control` to `CONTROLS`: its `check`
takes the report dict (`evidence.build_report`, before this section is added) and returns
`(MET, evidence lines)`, `(GAP, what is missing)` or `(NOT_APPLICABLE, why)`. Checks read
only the report, never the database, so what a reviewer sees is what was judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Judgements only a person makes: a machine identity holding one is overprivileged.
from approvals.models import Decision
from failover.authorities import APPROVAL_ROLES, HUMAN_AUTHORITIES

MET, GAP, NOT_APPLICABLE = "met", "gap", "not_applicable"
CSF = "NIST CSF 2.0"
NHI = "OWASP Non-Human Identity Top 10 (2025)"

Outcome = tuple[str, list[str]]

READINESS_KINDS = ("tls", "identity_provider", "secrets", "health")
NEVER_EXECUTED_ENDS = ("rejected", "cancelled", "expired")
RECOVERY_ENDED = ("rolled_back", "closed")


@dataclass(frozen=True)
class Control:
    framework: str
    id: str
    title: str
    asks: str  # what the control asks, in this product's terms
    check: Callable[[dict], Outcome]
    aliases: tuple[str, ...] = ()  # how the seed article (or an older edition) names it


# --- reading the report ------------------------------------------------------------------


def _execution(report: dict) -> dict | None:
    return report["request"]["execution"]


def _not_executed(report: dict) -> Outcome:
    state = report["request"]["state"]
    if state in NEVER_EXECUTED_ENDS:
        return NOT_APPLICABLE, [f"the request ended {state} before anything was executed"]
    return GAP, [f"the failover has not been executed (the request is {state})"]


def _changes(report: dict, direction: str = "failover") -> list[dict]:
    return [c for c in report["dns_changes"] if c["direction"] == direction]


def _latest_checks(report: dict) -> dict[str, dict]:
    """The latest readiness check of each kind made before execution (all of them if the
    request never executed)."""
    found: dict[str, dict] = {}
    for check in report["readiness"]["checks"]:  # oldest first
        if check["before_execution"]:
            found[check["kind"]] = check
    return found


def _machines(report: dict) -> list[dict]:
    return [i for i in report["identities"] if i["kind"] == "service_account"]


def _live_tokens(identity: dict) -> list[dict]:
    return [t for t in identity["tokens"] if not t["revoked_at"]]


def _token(t: dict) -> str:
    return f"token {t['name']} ({t['prefix']}…)"


def _outcome(evidence: list[str], missing: list[str]) -> Outcome:
    return (GAP, missing) if missing else (MET, evidence)


def _plan(hash_: str) -> str:
    return hash_[:12]


# --- NIST CSF 2.0: recovery plan execution (RC.RP) ------------------------------------------


def _seconds_line(seconds: dict) -> str:
    roles = ", ".join(f"{role} {s:g} s" for role, s in seconds["roles"].items()) or "nobody"
    steps = [
        f"{step} {seconds[step]:g} s"
        for step in ("quorum", "verified", "applied")
        if seconds[step] is not None
    ]
    return f"decided: {roles}" + (f"; {', '.join(steps)}" if steps else "")


def _rehearsed(report: dict) -> list[str]:
    rehearsal = report.get("rehearsal") or {}
    last = rehearsal.get("last_drill")
    if rehearsal.get("drill") or not last:
        return []
    return [
        f"rehearsed by drill #{last['id']} {last['days_before']:g} days before "
        f"({_seconds_line(last['seconds'])})"
    ]


def rc_rp_01(report: dict) -> Outcome:
    r, execution = report["request"], _execution(report)
    if execution is None:
        return _not_executed(report)
    evidence, missing = [], []
    if r.get("drill"):
        # A rehearsal is opened by people (or a policy's schedule), not by an incident.
        evidence.append(
            "a drill: the recovery plan rehearsed on the drill records, no traffic moved"
        )
    elif r["incident_ref"]:
        evidence.append(f"declared for incident {r['incident_ref']}")
    if r["origin_signal"]:
        s = r["origin_signal"]
        evidence.append(
            f"opened by alert signal #{s['id']} from {s['source']} ({s['metric']} = {s['value']:g})"
        )
    if not evidence:
        missing.append("no incident reference or alert ties the failover to the incident process")
    evidence.append(f"declared by {r['requester']['username']} at {r['created_at']}")
    seq = f" (audit #{execution['seq']})" if execution["seq"] else ""
    evidence.append(
        f"executed at {execution['at']} by {execution['by'] or 'unknown'}: "
        f"{execution['reason'] or 'no reason recorded'}{seq}"
    )
    evidence += _rehearsed(report)
    return _outcome(evidence, missing)


def id_im_02(report: dict) -> Outcome:
    """Exercises: a drill is one; a real failover is judged by the last drill before it."""
    rehearsal = report.get("rehearsal") or {}
    window = rehearsal.get("window_days", 30)
    if rehearsal.get("drill"):
        return MET, [
            "this request is a drill: the authority chain, readiness checks and provider path "
            "exercised before an outage",
            _seconds_line(rehearsal["seconds"]),
        ]
    last = rehearsal.get("last_drill")
    if last is None:
        return GAP, ["no completed drill of this service before this failover"]
    line = _rehearsed(report)
    if not rehearsal.get("within_window"):
        return GAP, [*line, f"older than the policy's {window}-day window"]
    return MET, line


def rc_rp_02(report: dict) -> Outcome:
    r = report["request"]
    changes = r["plan"].get("changes", [])
    zones = sorted({c.get("zone", "?") for c in changes})
    evidence = [
        f"plan {_plan(r['plan_hash'])}: {len(changes)} record change(s) in {', '.join(zones)}; "
        f"scope: {r['scope']}"
    ]
    missing = []
    if r["plan_hash_recomputed"] == r["plan_hash"]:
        evidence.append("the stored plan hashes to the recorded plan hash")
    else:
        missing.append("the stored plan does not hash to the recorded plan hash")
    if _execution(report) is None:
        return _not_executed(report) if not missing else (GAP, missing)
    failover = _changes(report)
    if not failover:
        missing.append("no DNS change was written for the executed plan")
    for c in failover:
        where = f"zone {c['zone']} ({c['provider']['name']})"
        if not c["on_request_plan"]:
            missing.append(f"{where}: applied plan {_plan(c['plan_hash'])}, not the request's")
        if c["status"] == "verified":
            evidence.append(
                f"{where}: provider change {c['provider_change_id']} submitted "
                f"{c['submitted_at'] or 'earlier'}, verified {c['verified_at']}"
            )
            if c["reads"]["before_seq"] and all(
                sorted(x["read_before"] or []) == sorted(x["before"]) for x in c["records"]
            ):
                evidence.append(
                    f"{where}: the live records read before submitting were the plan's "
                    f"(audit #{c['reads']['before_seq']}), so only the approved change was made"
                )
            elif c["reads"].get("swap_seq"):
                evidence.append(
                    f"{where}: the provider accepted the compare-and-swap batch, which applies "
                    f"only while the live records are the plan's (audit #{c['reads']['swap_seq']}),"
                    " so only the approved change was made"
                )
        else:
            missing.append(f"{where}: {c['status']}{' — ' + c['error'] if c['error'] else ''}")
    return _outcome(evidence, missing)


def rc_rp_03(report: dict) -> Outcome:
    latest = _latest_checks(report)
    if not report["readiness"]["checks"]:
        return GAP, ["no readiness check of the failover target was recorded"]
    evidence, missing = [], []
    when = "before execution" if _execution(report) else "so far"
    for kind in READINESS_KINDS:
        check = latest.get(kind)
        if check is None:
            missing.append(f"no {kind} check {when}")
        elif check["ok"]:
            evidence.append(f"{kind} ok at {check['checked_at']}: {check['reason']}")
        elif check["lifted"]:
            lift = check["lifted"]
            missing.append(
                f"{kind} failed at {check['checked_at']} ({check['reason']}); not verified but "
                f"overridden by {lift['by']} at {lift['at']}: “{lift['reason']}”"
            )
        else:
            missing.append(f"{kind} failed at {check['checked_at']}: {check['reason']}")
    return _outcome(evidence, missing)


def rc_rp_04(report: dict) -> Outcome:
    r, rollback = report["request"], report["rollback"]
    c = rollback["criteria"]
    evidence = [
        f"rollback criteria: at least {c['min_minutes_on_target']} min on the target, primary "
        f"healthy for {c['primary_healthy_minutes']} min, decide within "
        f"{c['decide_within_minutes']} min"
    ]
    if rollback["notes"]:
        evidence.append(f"notes: {rollback['notes']}")
    missing = []
    if r["applied_at"] and not rollback["checks"]:
        missing.append("the failover applied but no rollback check was scheduled")
    elif rollback["checks"]:
        evidence.append(f"{len(rollback['checks'])} rollback check(s) scheduled")
    if r["auth_changes"]:
        sign_offs = [
            d
            for d in report["decisions"]
            if d["kind"] == Decision.Kind.SIGN_OFF
            and d["role"] == "incident_response"
            and d["on_request_plan"]
            and d["before_execution"]
        ]
        if sign_offs:
            d = sign_offs[0]
            evidence.append(
                f"sign-in path or data region changes ({'; '.join(r['auth_changes'])}): "
                f"incident response ({d['actor']}) signed off at {d['at']}"
            )
        elif _execution(report):
            missing.append(
                f"sign-in path or data region changes ({'; '.join(r['auth_changes'])}) "
                "but incident response did not sign off the executed plan"
            )
    else:
        evidence.append("the identity provider, certificate trust and data region stay the same")
    return _outcome(evidence, missing)


def rc_rp_05(report: dict) -> Outcome:
    if _execution(report) is None:
        return _not_executed(report)
    evidence, missing = [], []
    for direction in ("failover", "rollback"):
        for c in _changes(report, direction):
            if c["status"] == "verified":
                records = "; ".join(
                    f"{x['name']} {x['type']} {', '.join(x['after'])}" for x in c["records"]
                )
                seq = c["reads"]["after_seq"]
                evidence.append(
                    f"{direction} in {c['zone']} read back at {c['verified_at']}: {records}"
                    + (f" (audit #{seq})" if seq else "")
                )
                for x in c["records"]:
                    if x["read_after"] is not None and sorted(x["read_after"]) != sorted(
                        x["after"]
                    ):
                        missing.append(
                            f"{x['name']} {x['type']} read back {', '.join(x['read_after'])}, "
                            f"not the planned {', '.join(x['after'])}"
                        )
            else:
                missing.append(f"{direction} in {c['zone']} was not verified ({c['status']})")
    health = _latest_checks(report).get("health")
    if health is None:
        missing.append("no health check of the target before it took traffic")
    elif health["ok"]:
        evidence.append(f"target health ok at {health['checked_at']}: {health['reason']}")
    else:
        missing.append(f"target health failed at {health['checked_at']}: {health['reason']}")
    return _outcome(evidence, missing)


def rc_rp_06(report: dict) -> Outcome:
    r, execution = report["request"], _execution(report)
    if execution is None and r["state"] in NEVER_EXECUTED_ENDS:
        return _not_executed(report)
    evidence, missing = [], []
    if r["state"] in RECOVERY_ENDED:
        evidence.append(f"recovery ended: the request is {r['state']} (at {r['ended_at']})")
        evaluated = [k for k in report["rollback"]["checks"] if k["evaluated_at"]]
        met = [k for k in evaluated if k["met"]]
        if met:
            evidence.append(f"rollback criteria evaluated as met at {met[-1]['evaluated_at']}")
        elif evaluated:
            evidence.append(f"rollback criteria last evaluated at {evaluated[-1]['evaluated_at']}")
        else:
            missing.append("recovery was ended without the rollback criteria being evaluated")
    else:
        missing.append(f"the end of recovery is not declared: the request is {r['state']}")
    v = report["verification"]
    if v["ok"]:
        evidence.append(f"audit evidence intact: {v['verified']} event(s) of this request verified")
    else:
        missing.append(f"audit evidence broken at event #{v['first_broken_seq']}: {v['reason']}")
    return _outcome(evidence, missing)


# --- NIST CSF 2.0: identity management, authentication and access control (PR.AA) ------------


def pr_aa_01(report: dict) -> Outcome:
    evidence, missing = [], []
    for i in report["identities"]:
        if not i["known"]:
            missing.append(f"account #{i['id']} acted on the request but no longer exists")
            continue
        kind = "service account" if i["kind"] == "service_account" else "person"
        tokens = f", {len(i['tokens'])} API token(s)" if i["tokens"] else ""
        evidence.append(f"{i['username']} ({kind}{tokens}): {', '.join(i['did'])}")
    return _outcome(evidence, missing)


def pr_aa_03(report: dict) -> Outcome:
    evidence, missing = [], []
    for d in report["decisions"]:
        what = f"#{d['id']} {d['kind']}{' as ' + d['role'] if d['role'] else ''} by {d['actor']}"
        if d["channel"] == "cli":
            missing.append(
                f"decision {what} was entered at the server's command line: the product did "
                "not authenticate that person"
            )
        else:
            how = (d.get("step_up") or {}).get("method")
            confirmed = f", confirmed with {how}" if how else ""
            if (d.get("step_up") or {}).get("verified"):
                confirmed += " (its signature over this act and plan verifies)"
            evidence.append(f"decision {what} through {d['channel']}{confirmed}")
    execution = _execution(report)
    if execution and execution["channel"] == "cli":
        missing.append(f"execution by {execution['by']} was started at the command line")
    if not evidence and not missing:
        return NOT_APPLICABLE, ["no decision was recorded on this request"]
    return _outcome(evidence, missing)


def _approvals(report: dict) -> tuple[list[str], list[str], list[str]]:
    """(evidence, separation-of-duties violations, approvals short of the policy) for the
    approvals that counted when the plan executed."""
    r, policy = report["request"], report["request"]["policy"]
    evidence, violations, short, counted = [], [], [], {}
    for d in report["decisions"]:
        if not (
            d["kind"] == Decision.Kind.APPROVE and d["on_request_plan"] and d["before_execution"]
        ):
            continue
        if d["actor_id"] == r["requester"]["id"]:
            violations.append(f"the requester {d['actor']} approved their own request")
            continue
        age = d["age_at_execution_minutes"]
        if age is not None and age > policy["approval_validity_minutes"]:
            continue  # expired before execution: it did not count
        counted.setdefault(d["role"], {}).setdefault(d["actor"], d)
    people: dict[str, set] = {}
    for role, given in counted.items():
        for person in given:
            people.setdefault(person, set()).add(role)
    for person, roles in people.items():
        if len(roles) > 1:
            violations.append(
                f"{person} approved in more than one role ({', '.join(sorted(roles))})"
            )
    for role in APPROVAL_ROLES:
        needed, given = policy[f"required_{role}"], counted.get(role, {})
        for d in given.values():
            evidence.append(
                f"{role} approved by {d['actor']} at {d['at']} on plan {_plan(d['plan_hash'])} "
                f"(audit #{d['audit_seq']})"
            )
        if len(given) < needed:
            short.append(f"{role} approvals of the executed plan: {len(given)} of {needed}")
    return evidence, violations, short


def _break_glass_review(use: dict) -> tuple[bool, str]:
    others = {r["reviewer"]: r for r in use["reviews"] if r["reviewer_id"] != use["actor_id"]}
    identity = any(r["holds_approve_identity"] for r in others.values())
    done = use["review_closed_at"] is not None and len(others) >= 2 and identity
    names = ", ".join(
        f"{n}{' (identity approver)' if r['holds_approve_identity'] else ''}"
        for n, r in others.items()
    )
    if done:
        return True, (
            f"break-glass #{use['id']} by {use['actor']} (“{use['justification']}”, skipped: "
            f"{', '.join(use['skipped_roles']) or 'nothing'}) reviewed by {names}, closed "
            f"{use['review_closed_at']}"
        )
    return False, (
        f"break-glass #{use['id']} by {use['actor']} (skipped: "
        f"{', '.join(use['skipped_roles']) or 'nothing'}) is not reviewed: {len(others)} of 2 "
        f"reviews by others, {'one' if identity else 'none'} by an identity approver"
        f"{'' if use['review_closed_at'] else ', review open'}"
    )


def pr_aa_05(report: dict) -> Outcome:
    execution = _execution(report)
    decisions = report["decisions"]
    vetoes = [d for d in decisions if d["kind"] == Decision.Kind.VETO and d["before_execution"]]
    if execution is None:
        if vetoes:
            return MET, [f"veto by {v['actor']} at {v['at']}: nothing executed" for v in vetoes]
        if report["request"]["state"] in NEVER_EXECUTED_ENDS:
            return NOT_APPLICABLE, ["nothing was executed"]
        return _not_executed(report)
    uses = report["break_glass"]
    evidence, missing, short = _approvals(report)
    if short and execution["breach"]:
        evidence.append(f"executed alone under a pre-approved threshold: {execution['breach']}")
    elif short and not uses:
        missing += short
    # Break-glass went without the missing approvals: its review (below) stands in for them.
    overridden = {(o.get("kind"), o.get("id")) for u in uses for o in u["overridden"]}
    by_id = {d["id"]: d for d in decisions}
    for v in vetoes:
        lift = by_id.get(v["lifted_by"])
        if lift and lift["before_execution"]:
            evidence.append(f"veto by {v['actor']} lifted by {lift['actor']} at {lift['at']}")
        elif ("veto", v["id"]) in overridden:
            evidence.append(f"veto by {v['actor']} overridden by break-glass (review below)")
        else:
            missing.append(f"veto by {v['actor']} at {v['at']} stood when the failover executed")
    enforced = report["readiness"]["system_veto_enforced"]
    for check in _latest_checks(report).values():
        failed = check["identity_critical"] and not check["ok"]
        if not (enforced and failed):
            continue
        if check["lifted"]:
            lift = check["lifted"]
            evidence.append(
                f"system veto of the failing {check['kind']} check lifted by {lift['by']} "
                f"at {lift['at']}: “{lift['reason']}”"
            )
        elif ("system_veto", check["id"]) in overridden:
            evidence.append(
                f"system veto of the failing {check['kind']} check overridden by break-glass"
            )
        else:
            missing.append(f"the {check['kind']} check's system veto stood at execution")
    for use in uses:
        reviewed, line = _break_glass_review(use)
        (evidence if reviewed else missing).append(line)
    if execution["by"] and execution["by"] != "system":
        held = next(
            (i["authorities"] for i in report["identities"] if i["username"] == execution["by"]),
            [],
        )
        how = "holds execute" if "execute" in held else "does not hold execute now"
        evidence.append(f"executed by {execution['by']} ({how})")
    return _outcome(evidence, missing)


# --- OWASP Non-Human Identity Top 10 (2025) --------------------------------------------------


def nhi2(report: dict) -> Outcome:
    evidence, missing = [], []
    for f in report["secret_scan"]["findings"]:
        missing.append(f"{f['what']} found in {f['where']} (redacted in this report)")
    if not report["secret_scan"]["findings"]:
        evidence.append("no credential-shaped text anywhere in this request's evidence")
    for p in report["providers"]:
        if p["credentials_by_reference"]:
            evidence.append(
                f"DNS provider {p['name']} ({p['kind']}) stores no secret; settings: "
                f"{', '.join(p['settings_keys']) or 'none'}"
            )
        else:
            missing.append(
                f"DNS provider {p['name']} stores a secret-looking setting: {p['problem']}"
            )
    return _outcome(evidence, missing)


def nhi5(report: dict) -> Outcome:
    machines = _machines(report)
    if not machines:
        return NOT_APPLICABLE, ["no non-human identity acted on this request"]
    service = report["request"]["service"]["slug"]
    evidence, missing = [], []
    for m in machines:
        extra = [a for a in m["authorities"] if a in HUMAN_AUTHORITIES]
        if extra:
            missing.append(f"{m['username']} holds {', '.join(extra)} on {service}")
        else:
            held = ", ".join(m["authorities"]) or "no authority"
            evidence.append(f"{m['username']} holds {held} on {service}")
        for t in _live_tokens(m):
            if not t["actions"]:
                missing.append(f"{m['username']}'s {_token(t)} may do every action")
            if not t["services"]:
                missing.append(f"{m['username']}'s {_token(t)} is not limited to services")
            if t["actions"] and t["services"]:
                evidence.append(
                    f"{m['username']}'s {_token(t)} limited to {', '.join(t['actions'])} on "
                    f"{', '.join(t['services'])}"
                )
    return _outcome(evidence, missing)


def nhi7(report: dict) -> Outcome:
    evidence, missing = [], []
    secrets = _latest_checks(report).get("secrets")
    if secrets is None:
        missing.append("no secrets-rotation check of the failover target")
    else:
        for entry in secrets["details"].get("secrets", []):
            when = entry.get("rotated_at", "never")
            line = f"{entry.get('secret')}: rotated {when} ({entry.get('reason')})"
            (evidence if entry.get("ok") else missing).append(line)
        if not secrets["ok"] and not secrets["details"].get("secrets"):
            missing.append(f"secrets check failed: {secrets['reason']}")
    for a in report["readiness"]["attestations"]:
        if a["latest"]:
            evidence.append(
                f"{a['secret']} rotation attested by {a['attested_by']} at {a['attested_at']}"
            )
    for m in _machines(report):
        for t in _live_tokens(m):
            if t["expires_at"]:
                evidence.append(f"{m['username']}'s {_token(t)} expires {t['expires_at']}")
            else:
                missing.append(f"{m['username']}'s {_token(t)} never expires")
    return _outcome(evidence, missing)


def nhi9(report: dict) -> Outcome:
    machines = _machines(report)
    if not machines:
        return NOT_APPLICABLE, ["no non-human identity acted on this request"]
    evidence, missing = [], []
    for m in machines:
        if len(m["integrations"]) > 1:
            missing.append(
                f"{m['username']} is shared by {len(m['integrations'])} integrations: "
                f"{', '.join(m['integrations'])}"
            )
        else:
            backs = m["integrations"][0] if m["integrations"] else "no integration (API only)"
            evidence.append(f"{m['username']} backs {backs}")
    return _outcome(evidence, missing)


def nhi10(report: dict) -> Outcome:
    machines = {m["id"]: m["username"] for m in _machines(report)}
    missing = [
        f"decision #{d['id']} ({d['kind']}) was made by service account {machines[d['actor_id']]}"
        for d in report["decisions"]
        if d["actor_id"] in machines
    ]
    missing += [
        f"break-glass #{u['id']} was used by service account {machines[u['actor_id']]}"
        for u in report["break_glass"]
        if u["actor_id"] in machines
    ]
    return _outcome(["every decision and break-glass use came from a personal account"], missing)


def _not_applicable(reason: str) -> Callable[[dict], Outcome]:
    return lambda report: (NOT_APPLICABLE, [reason])


CONTROLS: list[Control] = [
    Control(
        CSF,
        "RC.RP-01",
        "The recovery portion of the incident response plan is executed once initiated from "
        "the incident response process",
        "The failover was opened from the incident (incident reference or paging-tool alert) by "
        "a holder of the declare authority, and its written plan was executed.",
        rc_rp_01,
        ("RC.RP-1 (seed, CSF 1.1)",),
    ),
    Control(
        CSF,
        "ID.IM-02",
        "Improvements are identified from security tests and exercises, including those done "
        "in coordination with suppliers and relevant third parties",
        "The failover was rehearsed before the outage: a drill of the same chain, checks and "
        "provider path completed within the policy's window (or this request is that drill).",
        id_im_02,
    ),
    Control(
        CSF,
        "RC.RP-02",
        "Recovery actions are selected, scoped, prioritized, and performed",
        "The exact DNS change was fixed in a hashed plan, scoped to all records or one customer "
        "segment, and each zone's change was applied by the provider.",
        rc_rp_02,
    ),
    Control(
        CSF,
        "RC.RP-03",
        "The integrity of backups and other restoration assets is verified before using them "
        "for restoration",
        "Before traffic moved, the failover target passed its readiness checks: TLS "
        "certificates, identity provider, secrets rotation and health.",
        rc_rp_03,
    ),
    Control(
        CSF,
        "RC.RP-04",
        "Critical mission functions and cybersecurity risk management are considered to "
        "establish post-incident operational norms",
        "Rollback criteria were written down with the request and checked on a schedule; where "
        "users' sign-in path or data region changed, incident response signed off.",
        rc_rp_04,
    ),
    Control(
        CSF,
        "RC.RP-05",
        "The integrity of restored assets is verified, systems and services are restored, and "
        "normal operating status is confirmed",
        "Every applied change was read back from the provider and matched the plan, and the "
        "target's health was confirmed.",
        rc_rp_05,
    ),
    Control(
        CSF,
        "RC.RP-06",
        "The end of incident recovery is declared based on criteria, and incident-related "
        "documentation is completed",
        "The failover was rolled back or closed after its rollback criteria were evaluated, "
        "and the audit evidence verifies.",
        rc_rp_06,
    ),
    Control(
        CSF,
        "PR.AA-01",
        "Identities and credentials for authorized users, services, and hardware are managed "
        "by the organization",
        "Everyone and everything that acted on the request is a registered account here: "
        "people, and service accounts of paging tools with named API tokens.",
        pr_aa_01,
    ),
    Control(
        CSF,
        "PR.AA-03",
        "Users, services, and hardware are authenticated",
        "Every decision came from an authenticated account: a browser session confirmed by "
        "password, or an API bearer token — not a name typed at the server's command line.",
        pr_aa_03,
    ),
    Control(
        CSF,
        "PR.AA-05",
        "Access permissions, entitlements, and authorizations are defined in a policy, managed, "
        "enforced, and reviewed, and incorporate the principles of least privilege and "
        "separation of duties",
        "Availability and identity approved the executed plan as two people other than the "
        "requester, within the policy's validity window (or a pre-approved threshold was "
        "breached); every veto was lifted first; any break-glass use was reviewed by two other "
        "people, one of them an identity approver.",
        pr_aa_05,
        ("PR.AC-4 (seed, CSF 1.1)",),
    ),
    Control(
        NHI,
        "NHI1",
        "Improper Offboarding",
        "Machine identities and their credentials are retired when no longer needed.",
        _not_applicable(
            "an account-lifecycle matter: one failover holds no evidence of it (tokens are "
            "revoked and expire in the admin)"
        ),
    ),
    Control(
        NHI,
        "NHI2",
        "Secret Leakage",
        "No credential appears in the request's evidence, and the DNS provider accounts on the "
        "failover path store no secrets (credentials come from the environment or a named file).",
        nhi2,
    ),
    Control(
        NHI,
        "NHI3",
        "Vulnerable Third-Party NHI",
        "Third-party machine identities reach the failover path only as far as needed.",
        _not_applicable(
            "third parties (paging tools) only post signed alerts; they hold no credential into "
            "the DNS path, so a failover leaves no evidence here"
        ),
    ),
    Control(
        NHI,
        "NHI4",
        "Insecure Authentication",
        "Machine callers authenticate with strong, current mechanisms.",
        _not_applicable(
            "enforced at the door for every call (digest-stored bearer tokens, signed webhook "
            "deliveries) and not recorded per request"
        ),
    ),
    Control(
        NHI,
        "NHI5",
        "Overprivileged NHI",
        "Machine identities that acted hold only what their job needs: no approval, veto, "
        "sign-off or break-glass authority, and API tokens limited to named services and actions.",
        nhi5,
    ),
    Control(
        NHI,
        "NHI6",
        "Insecure Cloud Deployment Configurations",
        "CI/CD and cloud deployment identities are configured securely.",
        _not_applicable("deployment pipelines are outside this product"),
    ),
    Control(
        NHI,
        "NHI7",
        "Long-Lived Secrets",
        "The secrets the failover target depends on were rotated recently (attested by the "
        "identity team and checked before execution), and machine identities' tokens expire.",
        nhi7,
        ("NHI-07 (seed)",),
    ),
    Control(
        NHI,
        "NHI8",
        "Environment Isolation",
        "Machine identities and secrets are not shared across environments.",
        _not_applicable(
            "the product records the targets' cloud accounts but holds no evidence of how "
            "machine identities are separated between them"
        ),
    ),
    Control(
        NHI,
        "NHI9",
        "NHI Reuse",
        "Each machine identity that acted serves one purpose: one paging-tool integration per "
        "service account.",
        nhi9,
    ),
    Control(
        NHI,
        "NHI10",
        "Human Use of NHI",
        "Human judgements (decisions, break-glass) came from personal accounts, never from a "
        "machine identity.",
        nhi10,
    ),
]

STATUS_WORDS = {MET: "met", GAP: "gap", NOT_APPLICABLE: "not applicable"}


def assess(report: dict, controls: list[Control] | None = None) -> dict:
    """Every control's outcome over the report, and a count per status."""
    rows = []
    for control in CONTROLS if controls is None else controls:
        status, lines = control.check(report)
        rows.append(
            {
                "framework": control.framework,
                "id": control.id,
                "title": control.title,
                "asks": control.asks,
                "aliases": list(control.aliases),
                "status": status,
                "lines": lines,
            }
        )
    summary = {status: sum(r["status"] == status for r in rows) for status in STATUS_WORDS}
    return {"summary": summary, "controls": rows}
