"""A service's authority chain as a runbook: who can declare, who validates, who updates DNS,
who can reverse. One structure feeds the printable page and the Markdown download, so the
two never disagree."""

from __future__ import annotations

from django.utils import timezone

from approvals.selectors import policy_of
from failover.chain import AuthorityChain
from failover.report.markdown import code, md, text
from failover.web.present import chain_rows

SECTIONS = (
    ("Who can declare a failover", ("declare",)),
    (
        "Who validates",
        (
            "approve_availability",
            "approve_identity",
            "veto",
            "sign_off_incident_response",
            "sign_off_comms",
        ),
    ),
    ("Who updates DNS", ("execute", "break_glass")),
    ("Who can reverse", ("rollback",)),
)


def runbook(service, chain: AuthorityChain, names: dict[str, str]) -> dict:
    policy = policy_of(service)
    rows = {row["authority"]: row for row in chain_rows(chain, names)}
    rules = [
        f"Governance mode: {service.get_governance_mode_display()}.",
        f"Approvals needed: {policy.required_availability} availability, "
        f"{policy.required_identity} identity; each counts for {policy.approval_validity_minutes}"
        " min and only for the exact plan approved.",
        "Incident response signs off whenever the target changes the identity provider, "
        "certificate trust or data-residency region.",
        "A veto blocks execution until the person who vetoed (or another veto holder, with a "
        "reason) lifts it.",
        "The requester cannot approve their own request; one person counts for one role.",
    ]
    if policy.require_comms_sign_off:
        rules.append("Communications must sign off every failover.")
    if policy.execute_on_approval:
        rules.append("The DNS change is applied as soon as the last approval or sign-off lands.")
    else:
        rules.append("A holder of 'execute' applies the DNS change once everything is given.")
    if service.governance_mode == "preapproved_thresholds":
        thresholds = "; ".join(str(t) for t in service.thresholds.all()) or "none set"
        rules.append(
            "Pre-approved while a threshold is breached (the declarer may execute alone; "
            f"sign-offs still apply): {thresholds}."
        )
    rules.append(f"Open requests expire after {policy.request_ttl_minutes} min.")
    return {
        "service": service,
        "complete": chain.complete,
        "missing": [rows[a]["label"] for a in chain.missing],
        "rules": rules,
        "sections": [
            {"title": title, "rows": [rows[a] for a in authorities]}
            for title, authorities in SECTIONS
        ],
        "targets": list(service.targets.all()),
        "generated_at": timezone.now(),
    }


def _holders(row: dict) -> str:
    parts = [
        md("{} ({})", g["name"], ", ".join(g["members"]) or "no members") for g in row["groups"]
    ]
    parts += [text(name) for name in row["users"]]
    return "; ".join(parts) or "**nobody**"


def runbook_markdown(book: dict) -> str:
    """The runbook as Markdown. Names, addresses and issuers are typed by people: each goes
    through `text`, so a renderer shows it as text, never as HTML, a link or an image."""
    service = book["service"]
    lines = [
        "# " + md("Failover runbook: {} ({})", service.name, code(service.slug)),
        "",
        f"Generated {book['generated_at']:%Y-%m-%d %H:%M} UTC from the authority chain.",
        "",
    ]
    if not book["complete"]:
        lines += [
            "> **Incomplete chain: this service cannot be failed over.** Nobody holds: "
            + ", ".join(text(label) for label in book["missing"])
            + ".",
            "",
        ]
    lines += ["## Rules", ""] + [f"- {text(rule)}" for rule in book["rules"]] + [""]
    for section in book["sections"]:
        lines += [f"## {text(section['title'])}", ""]
        for row in section["rows"]:
            label = md("**{}** ({})", row["label"], code(row["authority"]))
            lines.append(f"- {label}: {_holders(row)}")
        lines.append("")
    lines += ["## Targets", ""]
    for t in book["targets"]:
        active = " — traffic goes here now" if t.active else ""
        lines.append(
            "- "
            + md(
                "**{}** ({}{}): {}, region {}, data in {}, identity provider {}, "
                "certificate trust {}",
                t.name,
                t.get_role_display(),
                active,
                t.address,
                t.region or "unset",
                t.data_residency_region or "unset",
                t.oidc_issuer or "none",
                t.certificate_trust or "none",
            )
        )
    lines.append("")
    return "\n".join(lines)
