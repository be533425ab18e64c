"""A real devidp process for the tests: started on a free port, its users changed through its
admin API, stopped at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.harness.ports import free_port

CLIENT_ID = "failover-tests"
CLIENT_SECRET = "devidp-test-client-secret"
ADMIN_SECRET = "devidp-test-admin-secret"
PASSWORD = "idp-pass-1"
ROOT = Path(__file__).resolve().parents[2]


class DevIdp:
    def __init__(self, users: list[dict], directory: Path):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        users_file = directory / "devidp-users.json"
        users_file.write_text(json.dumps(users))
        self.log = open(directory / "devidp.log", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devidp",
                "--port",
                str(self.port),
                "--users",
                str(users_file),
                "--issuer",
                self.issuer,
                "--admin-secret",
                ADMIN_SECRET,
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
                "--quiet",
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1)
                break
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError((directory / "devidp.log").read_text()) from None
                time.sleep(0.1)

    def set_user(self, username: str, **fields) -> dict:
        response = requests.put(
            f"{self.issuer}/admin/users/{username}",
            json=fields,
            headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def person(username: str, groups: list[str], **fields) -> dict:
    return {
        "username": username,
        "password": PASSWORD,
        "name": fields.pop("name", username.title() + " Person"),
        "email": f"{username}@example.test",
        "groups": groups,
        "disabled": False,
        **fields,
    }


def sign_in_through(
    client, username: str, password: str = PASSWORD, *, start="/oidc/authenticate/"
):
    """Django test client (host localhost) -> provider's login form (requests) -> callback.
    Returns (the provider's answer to the password, the callback's response or None)."""
    from urllib.parse import urlsplit

    started = client.get(start)
    assert started.status_code == 302, started.content[:500]
    provider = requests.Session()
    form = provider.get(started["Location"], timeout=5)
    assert form.status_code == 200, form.text
    answer = provider.post(
        form.url,
        data={"username": username, "password": password},
        allow_redirects=False,
        timeout=5,
    )
    if answer.status_code != 302:
        return answer, None
    back = urlsplit(answer.headers["Location"])
    return answer, client.get(f"{back.path}?{back.query}")
