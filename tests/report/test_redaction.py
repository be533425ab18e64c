"""Credential shapes are redacted from the report; ordinary evidence (hashes, fingerprints,
change ids, UUIDs, addresses) stays readable. The samples are made up, built from pieces so
that no scanner mistakes this file for a leak."""

from __future__ import annotations

import json
import time

import pytest

from approvals.services import record_decision
from failover.report.evidence import build_report
from failover.report.markdown import render
from failover.report.redact import redact
from failover.services import declare_request

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
CREDENTIALS = {
    "an AWS access key id": "AKIA" + "IOSFODNN7EXAMPLE",
    "an AWS secret access key": AWS_SECRET,
    "a GitHub token": "ghp_" + "A1b2C3d4" * 4 + "E5f6",
    "a GitLab token": "glpat-" + "x1Y2z3W4v5U6t7S8r9Q0",
    "a Slack token": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "a Slack webhook URL": "https://hooks.slack.com/services/" + "T000/B000/XXXXXXXX",
    "a Google API key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "a Stripe key": "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "a JSON Web Token": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3j",
    "a private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----",
    "a bearer credential": "Authorization: Bearer " + "abcdefghijklmnopqrstuvwxyz0123",
    "a basic-auth credential": "Authorization: Basic " + "YWxlcnRtYW5hZ2VyOmh1bnRlcjI=",
    "an API token of this product": "fa_0123456789ab_" + "s3cr3tS3cr3tS3cr3t",
}
NAMED = {  # the value goes, the name stays
    "password=Tr0ub4dor&3x": "Tr0ub4dor",
    "routing_key: 0123456789abcdef0123456789abcdef": "0123456789abcdef0123456789abcdef",
    '{"api_key": "u+AbCdEfGhIjKlMnOpQr"}': "u+AbCdEfGhIjKlMnOpQr",
    "aws_secret_access_key = " + AWS_SECRET: AWS_SECRET,
    "https://hooks.example.test/in?token=PDtok3nValue99": "PDtok3nValue99",
}
ORDINARY = [
    "plan 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "SHA-256 fingerprint 5E:FF:56:A2:AF:15:88:25:35:D3:EC:6A:4B:6C:19:68:"
    "0B:2D:7C:0A:6B:28:50:A0:43:2B:4B:A5:0D:36:A5:06",
    "pin sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "Route 53 change /change/C2682N5HXP0BZ4 and C1234ABCD",
    "request 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 and 2FD4E1C67A2D28FCED849EE1BB76E7391B93EB12",
    "record checkout.example.test. A 203.0.113.1 TTL 60 at 2026-12-05T10:00:00Z",
    "issuer https://login.eu.example.test/ and https://ops@git.example.test/repo",
    "WWW-Authenticate: Bearer realm=api; basic auth failed; password changed; token expired",
    "secret idp-signing-key rotated by identity; api_key rotation due",
    "target eu-west-1 (198.51.100.1), incident INC-7, key ARN arn:aws:kms:eu-west-1:123456789012",
]


@pytest.mark.parametrize("what", sorted(CREDENTIALS))
def test_each_credential_shape_is_redacted(what):
    secret = CREDENTIALS[what]
    text, findings = redact(f"seen in the log: {secret} (then retried)")
    assert secret not in text
    assert f"[redacted: {what}]" in text
    assert text.startswith("seen in the log: ") and text.endswith(" (then retried)")
    assert findings == [{"where": "(root)", "what": what}]


@pytest.mark.parametrize("line", sorted(NAMED))
def test_a_secret_after_its_name_is_redacted_and_the_name_kept(line):
    text, findings = redact(line)
    assert NAMED[line] not in text
    assert "[redacted: " in text and findings
    assert line.split("=")[0].split(":")[0].strip('{"') in text


def test_a_token_after_its_name_is_redacted_once():
    text, findings = redact("token: " + CREDENTIALS["an API token of this product"])
    assert text == "token: [redacted: an API token of this product]"
    assert len(findings) == 1


def test_a_password_in_a_url_goes_and_the_url_stays():
    text, _ = redact("pushed to https://deploy:hunter2-Secret@git.example.test/repo.git")
    assert "hunter2" not in text and "deploy:" not in text
    assert text == "pushed to https://[redacted: a password in a URL]@git.example.test/repo.git"


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_evidence_stays_readable(line):
    assert redact(line) == (line, [])


def test_redaction_takes_linear_time_on_long_text():
    started = time.monotonic()
    for text in ("aB3/" * 500_000, "password=" * 200_000, "-----BEGIN RSA PRIVATE KEY-----" * 9):
        redact(text)
    assert time.monotonic() - started < 5


def test_the_report_carries_no_aws_secret_key(service, people):
    request = declare_request(
        actor=people["declarer"],
        service=service,
        target="failover",
        reason=f"creds leaked: {CREDENTIALS['an AWS access key id']} / {AWS_SECRET}",
        incident_ref="INC-9",
    )
    record_decision(
        actor=people["avail"],
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
        comment=f"rotate {CREDENTIALS['a GitHub token']} too",
    )
    report = build_report(request)
    everything = json.dumps(report) + render(report)
    for secret in (AWS_SECRET, CREDENTIALS["an AWS access key id"], CREDENTIALS["a GitHub token"]):
        assert secret not in everything
    assert request.plan_hash in everything  # a hash is evidence, not a secret
    what = {(f["where"], f["what"]) for f in report["secret_scan"]["findings"]}
    assert ("request.reason", "an AWS secret access key") in what
    assert ("decisions[0].comment", "a GitHub token") in what
