"""Replays issue 13's attacks on the audit log against the production shape and prints what
stopped each one or what the verifiers said (not a benchmark: evidence for the closing note).

    .venv/bin/python bench/audit_attacks.py [--server postgres://postgres@127.0.0.1:5432]

It makes its own owner and app roles and databases with compose's init script, migrates as the
owner, seeds the demo and takes signed checkpoints as the app role (a local checkpoint
directory, as the embedded default does), then, on a fresh copy of that database per attack:
- as the app role: rewrite an approval, disable the triggers, use the old truncate switch,
  rewind the chain head;
- as a superuser without the signing key: rewrite an approval and recompute every later hash
  and the head, cut the tail and rewind the head, wipe everything, and the rewrite again with
  the checkpoint table emptied too;
and runs `verify_audit` and the offline verifier (export + checkpoint files + public key).
Everything it made is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.chain import event_hash  # noqa: E402  (pure: no Django needed)

OWNER, APP, BASE = "atk_owner", "atk_app", "atk_base"
COPIES = ("atk_app_1", "atk_su_rewrite", "atk_su_cut", "atk_su_wipe", "atk_su_window")
COPIES += ("atk_su_rewrite2",)
# The evidence an attacker wants to change: avail's approval of a checkout failover.
APPROVE = """
from django.contrib.auth import get_user_model
from approvals.services import record_decision
from failover.models import Service
from failover.services import declare_request
people = {u.username: u for u in get_user_model().objects.all()}
request = declare_request(actor=people["ic"], service=Service.objects.get(slug="checkout"),
    target="failover", reason="EU region down", incident_ref="INC-ATTACK")
record_decision(actor=people["avail"], request_id=request.pk, kind="approve",
    role="availability", plan_hash=request.plan_hash, comment="EU down, US healthy")
"""
LATER = """
from audit.services import record_event
record_event(action="config.changed", object_type="x", object_id="1", data={"n": 1}, actor=None)
"""


def run(args, env, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if check and done.returncode:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Replay:
    def __init__(self, server: str, work: Path):
        parts = urlsplit(server)
        self.host, self.port = parts.hostname or "127.0.0.1", str(parts.port or 5432)
        self.superuser = parts.username or "postgres"
        self.work = work
        key = run(
            [sys.executable, "manage.py", "audit_keys", "new", "--id", "attack-demo"],
            {**os.environ, "DEBUG": "true", "FAILOVER_VAR_DIR": str(work / "var")},
        )
        lines = dict(line.split(":", 1) for line in key.stdout.splitlines() if ":" in line)
        self.private = lines["private key"].strip()
        self.public = lines["public key"].strip()

    def url(self, role: str, db: str) -> str:
        return f"postgres://{role}@{self.host}:{self.port}/{db}"

    def env(self, role: str = APP, db: str = BASE, **extra) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "failover.settings",
            "DEBUG": "true",
            "DATABASE_URL": self.url(role, db),
            "FAILOVER_VAR_DIR": str(self.work / "var"),
            "AUDIT_CHECKPOINT_DIR": str(self.work / "checkpoints"),
            "AUDIT_SIGNING_KEY": getattr(self, "private", ""),
            "CELERY_BROKER_URL": "memory://localhost/",
            **extra,
        }

    def admin(self, db: str = "postgres", role: str | None = None):
        return psycopg.connect(
            host=self.host, port=self.port, dbname=db, user=role or self.superuser, autocommit=True
        )

    def manage(self, *args, role=APP, db=BASE, check=True, **extra):
        return run([sys.executable, "manage.py", *args], self.env(role, db, **extra), check)

    def drop(self, *dbs):
        with self.admin() as c:
            for db in dbs:
                c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def setup(self):
        self.drop(BASE, *COPIES)
        with self.admin() as c:
            for role in (APP, OWNER):
                c.execute(f'DROP ROLE IF EXISTS "{role}"')
        for who in ("owner", "app"):
            (self.work / who).write_text("not-used-with-trust-auth\n")
        run(
            ["bash", "deploy/postgres-init/10-failover-roles.sh"],
            {
                **os.environ,
                "PGHOST": self.host,
                "PGPORT": self.port,
                "POSTGRES_USER": self.superuser,
                "FAILOVER_DB": BASE,
                "FAILOVER_DB_OWNER": OWNER,
                "FAILOVER_DB_APP": APP,
                "FAILOVER_DB_OWNER_PASSWORD_FILE": str(self.work / "owner"),
                "FAILOVER_DB_APP_PASSWORD_FILE": str(self.work / "app"),
            },
        )
        self.manage("migrate", "--noinput", role=OWNER, DATABASE_APP_ROLE=APP)
        checkpoint = "from audit.checkpoints import take_checkpoint; take_checkpoint()"
        self.manage("seed_demo")
        self.manage("shell", "-c", checkpoint)
        self.manage("shell", "-c", APPROVE)
        self.manage("shell", "-c", checkpoint)
        self.manage("shell", "-c", LATER)  # after the last checkpoint: the window of exposure
        with self.admin(BASE) as c:
            events = c.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0]
            points = c.execute("SELECT string_agg(seq::text, ', ') FROM audit_checkpoint")
            points = points.fetchone()[0]
        print(f"base: demo seeded as {APP}, {events} events, checkpoints at #{points}")
        print("  " + last_line(self.manage("verify_audit", "--workers", "1").stdout))

    def copy(self, name: str) -> str:
        self.drop(name)
        with self.admin() as c:
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{BASE}"')
        return name

    def verdicts(self, db: str) -> tuple[str, str]:
        done = self.manage("verify_audit", "--workers", "1", db=db, check=False)
        online = last_line(done.stderr if done.returncode else done.stdout)
        export = self.work / f"{db}.jsonl"
        with export.open("w") as out:
            subprocess.run(
                [sys.executable, "manage.py", "export_audit", "--format", "jsonl"],
                cwd=ROOT,
                env=self.env(db=db),
                stdout=out,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        offline = run(
            [
                sys.executable,
                "audit/offline_verify.py",
                "--contiguous",
                "--checkpoints",
                str(self.work / "checkpoints"),
                "--public-key",
                self.public,
                str(export),
            ],
            os.environ,
            check=False,
        )
        return online, last_line(offline.stdout + offline.stderr)


def as_app(replay: Replay, name: str, statements: list[str]):
    db = replay.copy(name)
    with replay.admin(db, APP) as c:
        for sql in statements:
            try:
                c.execute(sql)
                outcome = "EXECUTED"
            except psycopg.Error as error:
                outcome = f"refused: {str(error).splitlines()[0]}"
            print(f"  {sql[:70]:70} -> {outcome}")
    online, _ = replay.verdicts(db)
    print(f"  verify_audit: {online}")
    replay.drop(db)


def rehash_from(c, seq: int) -> None:
    """The attacker recomputes every hash from `seq` on with the product's own function."""
    rows = c.execute(
        "SELECT seq, created_at, actor_id, actor, action, object_type, object_id, data, "
        "prev_hash FROM audit_auditevent WHERE seq >= %s ORDER BY seq",
        [seq],
    ).fetchall()
    prev = c.execute("SELECT hash FROM audit_auditevent WHERE seq = %s", [seq - 1]).fetchone()
    prev = prev[0] if prev else "0" * 64
    for s, created, actor_id, actor, action, otype, oid, data, _ in rows:
        new = event_hash(
            seq=s,
            created_at=created,
            actor_id=actor_id,
            actor=actor,
            action=action,
            object_type=otype,
            object_id=oid,
            data=data,
            prev_hash=prev,
        )
        c.execute(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s", [prev, new, s]
        )
        prev = new
    c.execute("UPDATE audit_chainhead SET hash = %s WHERE id = 1", [prev])


def as_superuser(replay: Replay, name: str, attack):
    db = replay.copy(name)
    with replay.admin(db) as c:
        c.execute("SET session_replication_role = replica")  # past every trigger
        attack(c)
    online, offline = replay.verdicts(db)
    print(f"  verify_audit:    {online}")
    print(f"  offline_verify:  {offline}")
    replay.drop(db)


def rewrite_after_checkpoint(c):
    last = c.execute("SELECT max(seq) FROM audit_auditevent").fetchone()[0]
    c.execute("UPDATE audit_auditevent SET data = '{\"n\": 2}' WHERE seq = %s", [last])
    rehash_from(c, last)
    print(f"  rewrote #{last}, newer than the last checkpoint, and recomputed its hash")


def rewrite(c, *, empty_checkpoints=False):
    seq, actor = c.execute(
        "SELECT seq, actor FROM audit_auditevent WHERE action = 'decision.approve' ORDER BY seq "
        "LIMIT 1"
    ).fetchone()
    c.execute("UPDATE audit_auditevent SET actor = 'identity' WHERE seq = %s", [seq])
    rehash_from(c, seq)
    if empty_checkpoints:
        c.execute("DELETE FROM audit_checkpoint")
    print(f"  rewrote #{seq} (actor {actor} -> identity), recomputed every later hash and the head")


def cut(c):
    last = c.execute("SELECT max(seq) FROM audit_auditevent").fetchone()[0]
    c.execute("DELETE FROM audit_auditevent WHERE seq >= %s", [last - 2])
    prev = c.execute("SELECT hash FROM audit_auditevent WHERE seq = %s", [last - 3]).fetchone()
    c.execute("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1", [last - 3, prev[0]])
    print(f"  deleted #{last - 2}..#{last} and rewound the head to #{last - 3}")


def wipe(c):
    c.execute("TRUNCATE audit_auditevent, audit_checkpoint")
    c.execute("UPDATE audit_chainhead SET seq = 0, hash = repeat('0', 64) WHERE id = 1")
    print("  truncated events and checkpoints, reset the head")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-attacks-") as work:
        replay = Replay(options.server, Path(work))
        replay.setup()
        print("\nAs the app role (what web and workers run as):")
        as_app(
            replay,
            "atk_app_1",
            [
                "UPDATE audit_auditevent SET actor = 'identity' WHERE action = 'decision.approve'",
                "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
                "DROP TRIGGER audit_event_advance_head ON audit_auditevent",
                "SET failover.allow_audit_truncate = on",
                "TRUNCATE audit_auditevent",
                "UPDATE audit_chainhead SET seq = 0, hash = repeat('0', 64)",
                "SET session_replication_role = replica",
            ],
        )
        for title, name, attack in [
            ("rewrite an approval, recompute every later hash", "atk_su_rewrite", rewrite),
            ("cut the tail, rewind the head", "atk_su_cut", cut),
            ("wipe every event, checkpoint row and the head", "atk_su_wipe", wipe),
            (
                "rewrite an event newer than the last checkpoint",
                "atk_su_window",
                rewrite_after_checkpoint,
            ),
            (
                "rewrite, and empty the checkpoint table too",
                "atk_su_rewrite2",
                lambda c: rewrite(c, empty_checkpoints=True),
            ),
        ]:
            print(f"\nAs a superuser without the signing key: {title}")
            as_superuser(replay, name, attack)
        replay.drop(BASE)
        with replay.admin() as c:
            for role in (APP, OWNER):
                c.execute(f'DROP ROLE IF EXISTS "{role}"')
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
