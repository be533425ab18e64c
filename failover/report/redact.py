"""Secrets must not travel in a report: anything in the gathered evidence that looks like a
credential is replaced before the report is shown or downloaded, and where it was found is
kept (never the value) so the framework section can name the leak (OWASP NHI2).

Each pattern is a credential's own shape (a vendor prefix, a PEM armour, a JWT's three parts)
or a secret-looking value right after a word that names one (`password=`, `api_key: `). Shapes
alone are never guessed from length: ordinary evidence (plan and audit hashes, SHA-256
fingerprints, Route 53 change ids, UUIDs, commit ids) must stay readable."""

from __future__ import annotations

import re
from typing import Any

# A word naming a secret, then `=` or `:` (quoted or not), then the value (the `secret` group).
NAMED = (
    r"(?i)\b(?:password|passwd|pwd|passphrase|secret|secret[_-]?key|client[_-]?secret"
    r"|api[_-]?key|apikey|api[_-]?token|access[_-]?token|auth[_-]?token|token"
    r"|private[_-]?key|aws[_-]?secret[_-]?access[_-]?key|secret[_-]?access[_-]?key"
    r"|routing[_-]?key|integration[_-]?key|service[_-]?key)"
    r"[\"']?\s*[:=]\s*[\"']?(?P<secret>[^\s\"',;&<>\[\]]{8,})"
)

PATTERNS = (
    ("an API token of this product", re.compile(r"fa_[0-9a-f]{12}_[A-Za-z0-9_-]{16,}")),
    (
        "a private key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)"
        ),
    ),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    (
        # 40 characters of base64, with upper and lower case letters and a digit: a SHA-1 or
        # a change id (one case only) never matches, nor a longer base64 digest.
        "an AWS secret access key",
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])"
            r"(?=[A-Za-z0-9/+]{0,39}[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
    ),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook URL", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Stripe key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    (
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ),
    ("a bearer credential", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*")),
    ("a basic-auth credential", re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/]{12,}={0,2}")),
    # Only the user:password part of the URL goes: where it pointed stays evidence.
    ("a password in a URL", re.compile(r"(?<=://)[^\s/:@\[\]]+:[^\s/@]+(?=@)")),
    ("a named secret", re.compile(NAMED)),
)


def _replace(what: str):
    def replace(match: re.Match) -> str:
        if "secret" in match.re.groupindex:  # keep the name, replace only the value
            start, end = match.span("secret")
            whole = match.group(0)
            offset = match.start()
            return f"{whole[: start - offset]}[redacted: {what}]{whole[end - offset :]}"
        return f"[redacted: {what}]"

    return replace


def redact(value: Any, path: str = "", findings: list[dict] | None = None) -> tuple[Any, list]:
    """A copy of `value` (plain JSON data) with credential-like strings replaced, and the list
    of `{"where": path, "what": kind}` found, in document order."""
    findings = [] if findings is None else findings
    if isinstance(value, str):
        for what, pattern in PATTERNS:
            if pattern.search(value):
                findings.append({"where": path or "(root)", "what": what})
                value = pattern.sub(_replace(what), value)
        return value, findings
    if isinstance(value, dict):
        return {
            k: redact(v, f"{path}.{k}" if path else str(k), findings)[0] for k, v in value.items()
        }, findings
    if isinstance(value, list):
        return [redact(v, f"{path}[{i}]", findings)[0] for i, v in enumerate(value)], findings
    return value, findings
