"""RFC 2136 dynamic updates, TSIG-signed, to any standards-compliant primary (BIND, Knot,
PowerDNS). The update carries prerequisites that each old record set is exactly what the plan
expects, so the compare-and-swap happens atomically on the server."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from dnsproviders.base import (
    Change,
    DriftError,
    Provider,
    ProviderError,
    normalise_values,
    record_key,
)

ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


class Rfc2136Provider(Provider):
    """settings: server, port (53), key_name, key_algorithm (hmac-sha256), and the key's
    base64 secret in the environment variable `secret_env` or the file `secret_file`."""

    def _server(self) -> tuple[str, int, float]:
        try:
            return (
                self.settings["server"],
                int(self.settings.get("port", 53)),
                float(self.settings.get("timeout", 5)),
            )
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"RFC 2136 settings incomplete: {exc}", permanent=True) from exc

    def _key(self) -> dns.tsig.Key:
        name = self.settings.get("key_name")
        algorithm = ALGORITHMS.get(self.settings.get("key_algorithm", "hmac-sha256"))
        if not name or algorithm is None:
            raise ProviderError("RFC 2136 needs key_name and a known key_algorithm", permanent=True)
        secret = None
        if env := self.settings.get("secret_env"):
            secret = os.environ.get(env)
        elif file_name := self.settings.get("secret_file"):
            try:
                secret = Path(file_name).read_text().strip()
            except OSError as exc:
                raise ProviderError(f"cannot read TSIG secret file: {exc}", permanent=True) from exc
        if not secret:
            raise ProviderError(
                "the TSIG secret is not available (set secret_env or secret_file)", permanent=True
            )
        return dns.tsig.Key(name, secret, algorithm=algorithm)

    def _exchange(self, message: dns.message.Message) -> dns.message.Message:
        server, port, timeout = self._server()
        self.acquire()
        try:
            return dns.query.tcp(message, server, port=port, timeout=timeout)
        except dns.tsig.PeerError as exc:
            raise ProviderError(
                f"the server rejected our TSIG signature: {exc}", permanent=True
            ) from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise ProviderError(f"{server}:{port} unreachable: {exc}") from exc

    def read(self, zone: str, changes: Sequence[Change]) -> dict[tuple, list[str]]:
        live = {}
        for change in changes:
            query = dns.message.make_query(change["name"], change["type"])
            response = self._exchange(query)
            rcode = response.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise ProviderError(
                    f"query for {change['name']} failed: {dns.rcode.to_text(rcode)}"
                )
            values = []
            rdtype = dns.rdatatype.from_text(change["type"])
            for rrset in response.answer:
                if rrset.name == dns.name.from_text(change["name"]) and rrset.rdtype == rdtype:
                    values.extend(r.to_text() for r in rrset)
            live[record_key(change)] = normalise_values(change["type"], values)
        return live

    def submit(self, zone: str, changes: Sequence[Change], *, comment: str) -> str:
        update = dns.update.UpdateMessage(zone, keyring=self._key())
        for change in changes:
            name, rtype = change["name"], change["type"]
            if change.get("routing", "simple") != "simple":
                raise ProviderError(
                    f"{name}: RFC 2136 supports simple routing only", permanent=True
                )
            if change["expected"]:
                update.present(name, rtype, *change["expected"])
            else:
                update.absent(name, rtype)
            if change["new"]:
                update.replace(name, change["ttl"], rtype, *change["new"])
            else:
                update.delete(name, rtype)
        response = self._exchange(update)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return f"rfc2136:{zone.rstrip('.')}:{update.id}"
        text = dns.rcode.to_text(rcode)
        if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
            raise DriftError(f"record changed since plan, re-plan required (server said {text})")
        if rcode == dns.rcode.SERVFAIL:
            raise ProviderError(f"the server failed the update ({text})")
        raise ProviderError(f"the server refused the update ({text})", permanent=True)
