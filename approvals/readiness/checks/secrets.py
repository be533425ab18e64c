"""Secrets readiness: the identity team's attestation of each secret's last rotation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from approvals.readiness.checks.base import SECRETS, CheckResult


def check_secrets(
    *,
    required: Sequence[str],
    rotated_at: Mapping[str, datetime],
    max_age_days: int = 90,
    now: datetime,
) -> CheckResult:
    """`rotated_at` maps a secret name to the latest attested rotation time. Every required
    secret needs one, no older than `max_age_days`."""
    limit = timedelta(days=max_age_days)
    entries = []
    for name in required:
        when = rotated_at.get(name)
        if when is None:
            entries.append({"secret": name, "ok": False, "reason": "no rotation attested"})
        elif now - when > limit:
            entries.append(
                {
                    "secret": name,
                    "ok": False,
                    "rotated_at": when.isoformat(),
                    "reason": f"last attested rotation {when:%Y-%m-%d} is older than "
                    f"{max_age_days} days",
                }
            )
        else:
            entries.append(
                {"secret": name, "ok": True, "rotated_at": when.isoformat(), "reason": "fresh"}
            )
    details = {"max_age_days": max_age_days, "secrets": entries}
    if not required:
        return CheckResult(SECRETS, False, "no secrets are listed for the target", details)
    failed = [e for e in entries if not e["ok"]]
    if failed:
        return CheckResult(
            SECRETS, False, "; ".join(f"{e['secret']}: {e['reason']}" for e in failed), details
        )
    return CheckResult(SECRETS, True, f"{len(entries)} secret(s) attested", details)
