"""Secrets must not travel in a report: anything in the gathered evidence that looks like a
credential is replaced before the report is shown or downloaded, and where it was found is
kept (never the value) so the framework section can name the leak (OWASP NHI2)."""

from __future__ import annotations

import re
from typing import Any

PATTERNS = (
    ("an API token of this product", re.compile(r"fa_[0-9a-f]{12}_[A-Za-z0-9_-]{16,}")),
    (
        "a private key",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)"
        ),
    ),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Slack webhook URL", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+")),
    ("a bearer credential", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*")),
)


def redact(value: Any, path: str = "", findings: list[dict] | None = None) -> tuple[Any, list]:
    """A copy of `value` (plain JSON data) with credential-like strings replaced, and the list
    of `{"where": path, "what": kind}` found, in document order."""
    findings = [] if findings is None else findings
    if isinstance(value, str):
        for what, pattern in PATTERNS:
            if pattern.search(value):
                findings.append({"where": path or "(root)", "what": what})
                value = pattern.sub(f"[redacted: {what}]", value)
        return value, findings
    if isinstance(value, dict):
        return {
            k: redact(v, f"{path}.{k}" if path else str(k), findings)[0] for k, v in value.items()
        }, findings
    if isinstance(value, list):
        return [redact(v, f"{path}[{i}]", findings)[0] for i, v in enumerate(value)], findings
    return value, findings
