"""Sign-in cost: the password form vs single sign-on through a real OIDC provider (devidp).

    .venv/bin/python bench/sso_signin.py [--rounds 5]

Starts devidp and runserver on a throwaway SQLite database (a temporary directory), seeds the
demo, links the demo people to devidp as `make run` does, then drives Debian's Chromium, each
round in a fresh browser context (no cookies): `ic` signs in with the password form; `ic`
signs in through the provider (button, provider's form); and, with the provider's session
still open, signs in again (button only). Prints median seconds, clicks and typed fields.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.browser import PASSWORD, launch  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

PYTHON = sys.executable


def wait_for(url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up; see {log}")


def start(workdir: Path) -> tuple[str, list[subprocess.Popen]]:
    port, idp_port = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "failover.settings",
        "FAILOVER_VAR_DIR": str(workdir / "var"),
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        "OIDC_ISSUER": f"http://127.0.0.1:{idp_port}",
        "OIDC_CLIENT_ID": "failover-bench",
        "OIDC_CLIENT_SECRET": "bench-only-secret",
        "OIDC_PROVIDER_NAME": "devidp",
    }
    users = workdir / "devidp-users.json"

    def manage(*args: str) -> str:
        return subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("seed_demo")
    code = f"from failover.demo.sso import demo_provider; print(demo_provider({str(users)!r}))"
    env["OIDC_GROUP_MAP"] = manage("shell", "-v", "0", "-c", code).strip()
    log_path = workdir / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 (kept open for the children)
    idp = [PYTHON, "-m", "devidp", "--port", str(idp_port), "--users", str(users)]
    idp += ["--client-id", "failover-bench", "--client-secret", "bench-only-secret", "--quiet"]
    web = [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    processes = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for cmd in (idp, web)
    ]
    wait_for(f"{env['OIDC_ISSUER']}/.well-known/openid-configuration", log_path)
    wait_for(f"http://127.0.0.1:{port}/healthz", log_path)
    return f"http://127.0.0.1:{port}", processes


def password_sign_in(page, base: str) -> tuple[int, int]:
    page.goto(base + "/login/")
    page.get_by_label("Username").fill("ic")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")
    return 1, 2


def sso_sign_in(page, base: str) -> tuple[int, int]:
    page.goto(base + "/login/")
    page.get_by_role("link", name="Sign in with devidp").click()
    clicks, fields = 1, 0
    page.wait_for_load_state()
    if page.url.startswith(base + "/"):
        return clicks, fields  # the provider's session was still open
    page.get_by_label("Username").fill("ic")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")
    return clicks + 1, fields + 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, list] = {"password": [], "sso": [], "sso, provider session open": []}
    with tempfile.TemporaryDirectory() as tmp:
        base, processes = start(Path(tmp))
        try:
            with sync_playwright() as pw:
                browser = launch(pw)
                for _ in range(args.rounds + 1):  # the first round warms up; not counted
                    rounds = []
                    for name, steps in (
                        ("password", [password_sign_in]),
                        ("sso", [sso_sign_in]),
                    ):
                        context = browser.new_context()
                        page = context.new_page()
                        began = time.perf_counter()
                        clicks, fields = steps[0](page, base)
                        rounds.append((name, time.perf_counter() - began, clicks, fields))
                        if name == "sso":  # sign out here only, then sign in again
                            page.get_by_role("button", name="Sign out").click()
                            page.wait_for_url(base + "/login/")
                            began = time.perf_counter()
                            clicks, fields = sso_sign_in(page, base)
                            again = time.perf_counter() - began
                            rounds.append(("sso, provider session open", again, clicks, fields))
                        context.close()
                    if _:
                        for name, seconds, clicks, fields in rounds:
                            results[name].append((seconds, clicks, fields))
                browser.close()
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)
    print(f"sign-in as ic, median of {args.rounds} rounds (fresh browser context each):")
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        print(f"  {name:28} {seconds:6.2f} s  clicks {runs[0][1]}  typed fields {runs[0][2]}")


if __name__ == "__main__":
    main()
