"""TLS readiness: the certificate each expected hostname is served with at the target."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from approvals.readiness.checks.base import (
    DEFAULT_TIMEOUT,
    TLS,
    CheckResult,
    client_context,
    split_address,
)
from failover import outbound


def _describe(der: bytes) -> dict:
    cert = x509.load_der_x509_certificate(der)
    return {
        "issuer": cert.issuer.rfc4514_string(),
        "subject": cert.subject.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _fetch_unverified(host: str, port: int, hostname: str, timeout: float) -> bytes | None:
    """The leaf certificate as served, without verifying it: evidence for a failed check."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            outbound.connect(host, port, timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=hostname) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


def check_hostname(
    *,
    host: str,
    port: int,
    hostname: str,
    ca_bundle: str | None = None,
    min_days: int = 14,
    timeout: float = DEFAULT_TIMEOUT,
    now: datetime | None = None,
) -> dict:
    """One hostname's verdict: a dict with hostname, ok, reason and the certificate's facts."""
    now = now or datetime.now(UTC)
    entry: dict = {"hostname": hostname, "ok": False, "reason": ""}
    try:
        context = client_context(ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        entry["reason"] = f"cannot load CA bundle {ca_bundle!r}: {exc}"
        return entry
    der = None
    try:
        with (
            outbound.connect(host, port, timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=hostname) as tls,
        ):
            entry["connected_to"] = tls.getpeername()[0]
            der = tls.getpeercert(binary_form=True)
    except outbound.Refused as exc:
        entry["reason"] = str(exc)
        return entry  # no second try at an address the guard refuses
    except ssl.SSLCertVerificationError as exc:
        entry["reason"] = f"certificate does not verify: {exc.verify_message or exc}"
    except (ssl.SSLError, OSError) as exc:
        entry["reason"] = f"TLS connection to {host}:{port} failed: {type(exc).__name__}: {exc}"
    try:
        if der is None:
            der = _fetch_unverified(host, port, hostname, timeout)
            if der is not None:
                entry.update(_describe(der))
            return entry
        entry.update(_describe(der))
    except ValueError as exc:  # served bytes that are not a certificate we can read
        entry["ok"] = False
        entry["reason"] = f"{entry['reason'] or 'the served certificate'}: unreadable ({exc})"
        return entry
    not_after = datetime.fromisoformat(entry["not_after"])
    if not_after <= now:
        entry["reason"] = f"certificate expired at {not_after.isoformat()}"
    elif not_after - now < timedelta(days=min_days):
        entry["reason"] = f"certificate expires at {not_after.isoformat()}, within {min_days} days"
    else:
        entry["ok"] = True
        entry["reason"] = "chain verifies, hostname matches, not expiring soon"
    return entry


def check_tls(
    *,
    address: str,
    hostnames: Sequence[str],
    ca_bundle: str | None = None,
    min_days: int = 14,
    timeout: float = DEFAULT_TIMEOUT,
    now: datetime | None = None,
) -> CheckResult:
    """Connect to `address` (host[:port], default 443) with SNI for each expected hostname.

    Passes only when every hostname's chain verifies against `ca_bundle` (a PEM file path) or
    the system trust store, the hostname matches and the certificate outlives `min_days`.
    """
    details: dict = {"address": address, "ca_bundle": ca_bundle or "", "min_days": min_days}
    try:
        host, port = split_address(address)
    except ValueError as exc:
        return CheckResult(TLS, False, str(exc), {**details, "hostnames": []})
    hostnames = [h for h in (hostnames or []) if h]
    if not hostnames:
        return CheckResult(
            TLS, False, "the target lists no expected certificate hostnames", details
        )
    results = [
        check_hostname(
            host=host,
            port=port,
            hostname=name,
            ca_bundle=ca_bundle,
            min_days=min_days,
            timeout=timeout,
            now=now,
        )
        for name in hostnames
    ]
    details["hostnames"] = results
    failed = [r for r in results if not r["ok"]]
    if failed:
        reason = "; ".join(f"{r['hostname']}: {r['reason']}" for r in failed)
        return CheckResult(TLS, False, reason, details)
    return CheckResult(TLS, True, f"{len(results)} hostname(s) verified", details)
