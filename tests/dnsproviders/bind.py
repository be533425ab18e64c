"""A real BIND 9 primary on 127.0.0.1 at a free port, with a TSIG key and a writable zone."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from tests.harness.ports import free_port

NAMED = shutil.which("named") or "/usr/sbin/named"
ZONE = "bind.test."


def available() -> bool:
    return os.access(NAMED, os.X_OK)


class Bind:
    def __init__(self, workdir: Path, records: dict[str, str]):
        self.dir = workdir
        self.port = free_port()
        self.key_name = "failover-key"
        self.secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "named.conf").write_text(f"""
key "{self.key_name}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};
options {{
  directory "{self.dir}"; listen-on port {self.port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  pid-file "{self.dir}/named.pid"; session-keyfile "{self.dir}/session.key";
  recursion no; dnssec-validation no; notify no;
}};
controls {{ }};
zone "{ZONE.rstrip(".")}" {{ type primary; file "{self.dir}/zone.db";
  update-policy {{ grant {self.key_name} zonesub ANY; }}; }};
""")
        lines = [
            f"$ORIGIN {ZONE}",
            "$TTL 60",
            "@ IN SOA ns1 hostmaster 1 3600 600 86400 60",
            "@ IN NS ns1",
            "ns1 IN A 127.0.0.1",
        ]
        lines += [f"{name} IN A {value}" for name, value in records.items()]
        (self.dir / "zone.db").write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> Bind:
        args = [NAMED, "-c", str(self.dir / "named.conf"), "-g"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        with open(self.dir / "named.log", "w") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                query = dns.message.make_query(ZONE, "SOA")
                if dns.query.tcp(query, "127.0.0.1", port=self.port, timeout=1).rcode() == 0:
                    return self
            except (OSError, dns.exception.DNSException):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("named did not start: " + (self.dir / "named.log").read_text()[-2000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def query(self, name: str) -> list[str]:
        response = dns.query.tcp(
            dns.message.make_query(name, "A"), "127.0.0.1", port=self.port, timeout=2
        )
        return sorted(r.to_text() for rrset in response.answer for r in rrset)

    def settings(self, env_name: str) -> dict:
        return {
            "server": "127.0.0.1",
            "port": self.port,
            "key_name": self.key_name,
            "key_algorithm": "hmac-sha256",
            "secret_env": env_name,
        }
