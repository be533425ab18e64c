"""Signed checkpoints kept outside the database: someone holding the whole database but not the
signing key cannot rewrite, cut or wipe the audit history without the verifiers (verify_audit,
verify_all, the offline verifier) naming the first checkpoint that disagrees."""

import base64
import json
import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit import checkpoints
from audit.checkpoint_store import Conflict, LocalStore
from audit.checkpoints import after_append, take_checkpoint
from audit.evidence import verify_all
from audit.models import AuditEvent, Checkpoint
from audit.offline_verify import checkpoint_file, checkpoint_name
from audit.signing import signing_key
from audit.verify import verify_chain
from tests.audit.conftest import cut, events, rewrite, signing, wipe
from tests.secrets_registry import REGISTRY
from tests.tamper import tamper

pytestmark = pytest.mark.django_db

VERIFY = Path(__file__).resolve().parents[2] / "audit" / "offline_verify.py"


def stored(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.json")) if directory.exists() else []


def read(directory: Path, seq: int) -> dict:
    outer = json.loads((directory / checkpoint_name(seq)).read_text())
    return {**json.loads(outer["body"]), "_outer": outer}


# --- taking checkpoints ---


def test_a_checkpoint_signs_the_verified_head_outside_the_database(key, checkpoint_dir):
    events(5)
    outcome = take_checkpoint()
    assert (outcome.status, outcome.seq, outcome.stored) == ("taken", 5, ("local",))

    path = checkpoint_dir / checkpoint_name(5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # read-only, never rewritten
    body = read(checkpoint_dir, 5)
    assert body["hash"] == AuditEvent.objects.get(seq=5).hash
    assert (body["seq"], body["key_id"], body["previous"]) == (5, "k1", None)
    outer = body["_outer"]
    Ed25519PublicKey.from_public_bytes(key.public_bytes()).verify(
        base64.b64decode(outer["signature"]), outer["body"].encode()
    )
    row = Checkpoint.objects.get()
    assert (row.seq, row.body, row.stored) == (5, outer["body"], ["local"])

    events(3)
    assert take_checkpoint().seq == 8
    assert read(checkpoint_dir, 8)["previous"] == {"seq": 5, "hash": body["hash"]}
    assert verify_all().checkpoints["checked"] == 2


def test_nothing_is_taken_when_the_head_has_not_moved(key, checkpoint_dir):
    events(3)
    take_checkpoint()
    again = take_checkpoint()
    assert (again.status, again.seq) == ("unchanged", 3)
    assert stored(checkpoint_dir) == [checkpoint_name(3)]
    assert Checkpoint.objects.count() == 1


def test_an_empty_chain_has_nothing_to_sign(key, checkpoint_dir):
    assert take_checkpoint().status == "unchanged"
    assert stored(checkpoint_dir) == []


def test_a_long_backlog_is_signed_in_parts(key, checkpoint_dir):
    events(10)
    parts = [take_checkpoint(max_events=4) for _ in range(3)]
    assert [(p.seq, p.more) for p in parts] == [(4, True), (8, True), (10, False)]
    assert verify_all().ok


def test_a_chain_that_does_not_verify_is_never_signed(key, checkpoint_dir, caplog):
    events(4)
    take_checkpoint()
    events(3)
    victim = AuditEvent.objects.get(seq=6)
    tamper("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"i": 99}', victim.pk])
    outcome = take_checkpoint()
    assert outcome.status == "failed"
    assert "event #6: content does not match its hash" in outcome.message
    assert "event #6" in caplog.text
    assert stored(checkpoint_dir) == [checkpoint_name(4)]
    assert list(Checkpoint.objects.values_list("seq", flat=True)) == [4]


def test_no_signing_key_no_checkpoint_and_the_verifiers_say_so(checkpoint_dir):
    events(2)
    assert take_checkpoint().status == "no-key"
    assert stored(checkpoint_dir) == []
    verdict = verify_all()
    assert verdict.ok  # nothing disagrees...
    warnings = " ".join(verdict.checkpoints["warnings"])
    assert "no signing key configured" in warnings  # ...but nothing protects it either
    assert "unprotected against someone holding the database" in warnings
    err = StringIO()
    call_command("verify_audit", "--workers", "1", stdout=StringIO(), stderr=err)
    assert "WARNING: no signing key configured" in err.getvalue()
    found = [m.id for m in checks.run_checks(tags=[checks.Tags.security])]
    assert "audit.W010" in found


def test_no_store_configured_is_said(key, settings):
    settings.AUDIT_CHECKPOINT_DIR = ""
    events(2)
    assert take_checkpoint().status == "no-store"
    verdict = verify_all()
    assert verdict.ok and not verdict.checkpoints["protected"]
    assert any("no checkpoint store" in w for w in verdict.checkpoints["warnings"])
    assert "audit.W011" in [m.id for m in checks.run_checks(tags=[checks.Tags.security])]


def test_before_the_first_checkpoint_the_chain_is_said_to_be_unprotected(key):
    events(2)
    verdict = verify_all()
    assert verdict.ok and not verdict.checkpoints["protected"]
    assert any("no checkpoint has been taken yet" in w for w in verdict.checkpoints["warnings"])


def test_events_after_the_latest_checkpoint_are_said_to_be_uncovered(key):
    events(3)
    take_checkpoint()
    events(2)
    verdict = verify_all()
    assert verdict.ok and verdict.checkpoints["protected"]
    assert "events #4-#5 are newer than the latest checkpoint" in " ".join(
        verdict.checkpoints["warnings"]
    )


def test_one_checkpoint_at_a_time(key, checkpoint_dir, settings):
    """While another worker holds the lock, a run steps aside instead of signing twice."""
    events(2)
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        other = psycopg.connect(
            dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or None,
            host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, autocommit=True,
        )  # fmt: skip
        other.execute("SELECT pg_advisory_lock(%s)", [checkpoints.LOCK_KEY])
        try:
            assert take_checkpoint().status == "busy"
        finally:  # released now: a closing session lets go of its locks a moment later
            other.execute("SELECT pg_advisory_unlock(%s)", [checkpoints.LOCK_KEY])
            other.close()
    else:
        import fcntl

        with open(Path(settings.VAR_DIR) / "audit-checkpoint.lock", "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            assert take_checkpoint().status == "busy"
    assert stored(checkpoint_dir) == []
    assert take_checkpoint().status == "taken"


# --- the local store ---


def test_the_local_store_never_overwrites(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put(checkpoint_name(1), b"one")
    store.put(checkpoint_name(1), b"one")  # a retry of the same checkpoint: fine
    with pytest.raises(Conflict):
        store.put(checkpoint_name(1), b"another")
    assert store.get(checkpoint_name(1)) == b"one"
    assert [p.name for p in (tmp_path / "store").iterdir()] == [checkpoint_name(1)]


def test_a_lost_checkpoint_directory_is_restored_from_the_signed_rows(key, checkpoint_dir):
    events(3)
    take_checkpoint()
    for path in checkpoint_dir.iterdir():
        path.chmod(0o644)
        path.unlink()
    outcome = take_checkpoint()
    assert (outcome.status, outcome.message) == ("unchanged", "copied to local")
    assert stored(checkpoint_dir) == [checkpoint_name(3)]


def test_deleted_or_forged_rows_do_not_mislead_the_next_checkpoint(key, checkpoint_dir):
    """The stores say what the previous checkpoint is: the database can delete its rows or
    add forged ones without making the worker sign from the wrong place."""
    events(3)
    take_checkpoint()
    events(2)
    take_checkpoint()
    tamper("DELETE FROM audit_checkpoint")
    tamper(
        "INSERT INTO audit_checkpoint (seq, hash, signed_at, key_id, body, signature, stored) "
        "VALUES (999, %s, %s, 'k1', '{}', 'AAAA', '[]')",
        ["f" * 64, datetime.now(UTC)],
    )
    events(1)
    outcome = take_checkpoint()
    assert (outcome.status, outcome.seq) == ("taken", 6)
    assert read(checkpoint_dir, 6)["previous"]["seq"] == 5


# --- rotation ---


def test_old_checkpoints_verify_with_the_retired_public_key(key, settings, checkpoint_dir):
    events(3)
    take_checkpoint()
    settings.AUDIT_VERIFY_KEYS = [key.public_text()]
    settings.AUDIT_SIGNING_KEY = signing("k2").private_text()
    events(2)
    assert take_checkpoint().status == "taken"  # the k1 checkpoint is still trusted as previous
    assert [read(checkpoint_dir, s)["key_id"] for s in (3, 5)] == ["k1", "k2"]
    verdict = verify_all()
    assert verdict.ok, verdict
    assert (verdict.checkpoints["checked"], verdict.checkpoints["latest"]["key_id"]) == (2, "k2")
    out = StringIO()
    call_command("audit_keys", "public", stdout=out, stderr=StringIO())
    assert out.getvalue().split() == [key.public_text(), signing_key().public_text()]

    settings.AUDIT_VERIFY_KEYS = []  # the retired key forgotten: its checkpoint is unknown
    verdict = verify_all()
    assert not verdict.ok and verdict.first_broken_seq is None
    assert verdict.reason == (
        f"forged checkpoint {checkpoint_dir / checkpoint_name(3)}: signed with an unknown key 'k1'"
    )
    with pytest.raises(CommandError, match="audit checkpoints BROKEN: forged checkpoint"):
        call_command("verify_audit", "--workers", "1", stdout=StringIO(), stderr=StringIO())


def test_a_retired_key_may_not_reuse_the_signing_key_id(key, settings):
    settings.AUDIT_VERIFY_KEYS = [signing("k1").public_text()]
    found = {m.id: m.msg for m in checks.run_checks(tags=[checks.Tags.security])}
    assert "a new key needs a new id" in found["audit.E011"]


# --- what someone holding the database can do, and what the verifiers say ---


@pytest.fixture
def protected(key):
    """15 events under checkpoints #10 and #15, then 3 newer ones (not yet covered)."""
    events(10)
    take_checkpoint()
    events(5)
    take_checkpoint()
    events(3)
    assert verify_all().ok


def test_a_rewrite_with_every_later_hash_recomputed_is_caught(protected):
    rewrite(12, {"i": "nothing to see"})
    assert verify_chain().ok  # the chain alone is fooled
    verdict = verify_all()
    assert (verdict.ok, verdict.first_broken_seq) == (False, 15)
    assert verdict.reason.startswith("rewritten: event #15 does not match checkpoint #15 (signed ")
    assert "; the last checkpoint that agrees is #10 (signed " in verdict.reason
    with pytest.raises(CommandError, match="BROKEN at event #15: rewritten: event #15"):
        call_command("verify_audit", "--workers", "1", stdout=StringIO(), stderr=StringIO())
    # and the worker refuses to sign the rewritten chain
    outcome = take_checkpoint()
    assert outcome.status == "failed" and "rewritten: event #15" in outcome.message


def test_a_rewrite_before_the_first_checkpoint_names_no_agreeing_one(protected):
    rewrite(2, {"i": "changed"})
    verdict = verify_all()
    assert verdict.first_broken_seq == 10
    assert "the last checkpoint that agrees is none" in verdict.reason


def test_a_rewrite_after_the_latest_checkpoint_is_the_window_of_exposure(protected):
    rewrite(17, {"i": "changed"})
    assert verify_all().ok  # documented: events newer than the latest checkpoint


def test_a_cut_tail_with_the_head_rewound_is_caught(protected):
    cut(12)
    assert verify_chain().ok
    verdict = verify_all()
    assert (verdict.ok, verdict.first_broken_seq) == (False, 13)
    assert verdict.reason.startswith("cut: the chain ends at #12 but checkpoint #15 (signed ")
    assert ", key k1) says it reached #15" in verdict.reason
    assert take_checkpoint().status == "failed"


def test_a_wipe_of_every_event_and_the_head_is_caught(protected):
    wipe()
    assert verify_chain().ok  # "OK: 0 events" was the attack of issue 13
    verdict = verify_all()
    assert (verdict.ok, verdict.verified, verdict.first_broken_seq) == (False, 0, 1)
    assert verdict.reason.startswith("cut: the chain ends at #0 but checkpoint #10 (signed ")
    assert "the latest, #15" in verdict.reason
    with pytest.raises(CommandError, match="BROKEN at event #1: cut: the chain ends at #0"):
        call_command("verify_audit", "--workers", "1", stdout=StringIO(), stderr=StringIO())


def test_forged_checkpoint_files_are_named(protected, checkpoint_dir):
    evil = signing("evil")
    body = json.dumps(
        {"seq": 16, "hash": "a" * 64, "signed_at": "x", "key_id": "evil", "previous": None}
    )
    (checkpoint_dir / checkpoint_name(16)).write_bytes(
        checkpoint_file(body, evil.sign(body.encode()))
    )
    real = json.loads((checkpoint_dir / checkpoint_name(10)).read_text())
    altered = real["body"].replace('"seq":10', '"seq":11')
    (checkpoint_dir / checkpoint_name(11)).write_bytes(checkpoint_file(altered, real["signature"]))
    (checkpoint_dir / checkpoint_name(12)).write_bytes(b"{not json")
    verdict = verify_all()
    assert not verdict.ok and verdict.first_broken_seq is None
    problems = verdict.checkpoints["problems"]
    assert (
        f"forged checkpoint {checkpoint_dir / checkpoint_name(11)}: bad signature (key 'k1')"
        in problems
    )
    assert any(
        p.startswith(f"forged checkpoint {checkpoint_dir / checkpoint_name(12)}: unreadable")
        for p in problems
    )
    unknown = f"forged checkpoint {checkpoint_dir / checkpoint_name(16)}: signed with an unknown"
    assert f"{unknown} key 'evil'" in problems
    assert verdict.checkpoints["checked"] == 2  # the genuine ones still agree


def test_reads_of_the_chain_are_batched(key, django_assert_max_num_queries, settings):
    """Each checkpoint is one seq to look up: thousands of them cost a few queries."""
    events(30)
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    for _ in range(30):  # a checkpoint at every event, as if taken very often
        take_checkpoint(max_events=1)
    assert len(stored(directory)) == 30
    with django_assert_max_num_queries(8):
        verdict = verify_all()
    assert verdict.ok and verdict.checkpoints["checked"] == 30


# --- the offline verifier: the export, the checkpoint files and the public keys ---


def export(tmp_path: Path, kind: str = "jsonl", *args) -> Path:
    out = StringIO()
    call_command("export_audit", "--format", kind, *args, stdout=out)
    path = tmp_path / f"export-{len(list(tmp_path.glob('export-*')))}.{kind}"
    path.write_text(out.getvalue())
    return path


def offline(path: Path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFY), *flags, str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_the_offline_verifier_checks_an_export_against_checkpoints(
    protected, key, checkpoint_dir, tmp_path, kind
):
    flags = ("--checkpoints", str(checkpoint_dir), "--public-key", key.public_text())
    result = offline(export(tmp_path, kind), *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 18 events verified" in result.stdout
    assert "2 checkpoints agree, the latest #15 signed " in result.stdout
    assert "events #16-#18 are newer than any checkpoint" in result.stdout

    rewrite(12, {"i": "nothing to see"})
    result = offline(export(tmp_path, kind), *flags)
    assert result.returncode == 1
    assert "rewritten: event #15 does not match checkpoint #15" in result.stdout
    assert "the last checkpoint that agrees is #10" in result.stdout


def test_the_offline_verifier_catches_a_cut_and_a_wipe(protected, key, checkpoint_dir, tmp_path):
    flags = ("--checkpoints", str(checkpoint_dir), "--public-key", key.public_text())
    cut(12)
    result = offline(export(tmp_path), *flags)
    assert result.returncode == 1
    assert "cut: the chain ends at #12 but checkpoint #15" in result.stdout
    wipe()
    result = offline(export(tmp_path), *flags)
    assert result.returncode == 1
    assert "BROKEN after 0 events: cut: the chain ends at #0 but checkpoint #10" in result.stdout


def test_the_offline_verifier_catches_a_forged_checkpoint(protected, key, checkpoint_dir, tmp_path):
    path = export(tmp_path)
    evil = signing("evil")
    body = json.dumps(
        {"seq": 3, "hash": "a" * 64, "signed_at": "x", "key_id": "k1", "previous": None}
    )
    forged = tmp_path / "forged.json"
    forged.write_bytes(checkpoint_file(body, evil.sign(body.encode())))
    flags = ("--checkpoints", str(checkpoint_dir), "--public-key", key.public_text())
    result = offline(path, *flags, "--checkpoints", str(forged))
    assert result.returncode == 1
    assert f"forged checkpoint {forged}: bad signature (key 'k1')" in result.stdout
    # a key the reviewer was not given: its checkpoints are not trusted
    result = offline(path, "--checkpoints", str(checkpoint_dir), "--public-key", evil.public_text())
    assert result.returncode == 1 and "signed with an unknown key 'k1'" in result.stdout


def test_the_offline_verifier_needs_the_whole_chain_and_the_keys(
    protected, key, checkpoint_dir, tmp_path
):
    since = (AuditEvent.objects.get(seq=5).created_at).isoformat()
    partial = export(tmp_path, "jsonl", "--since", since)
    flags = ("--checkpoints", str(checkpoint_dir), "--public-key", key.public_text())
    result = offline(partial, *flags)
    assert result.returncode == 1 and "an export of the whole chain" in result.stdout
    result = offline(export(tmp_path), "--checkpoints", str(checkpoint_dir))
    assert result.returncode == 2 and "--public-key" in result.stderr
    result = offline(export(tmp_path), *flags[:2], "--public-key", "k1:not-base64")
    assert result.returncode == 2 and "not base64" in result.stderr


def test_the_offline_verifier_without_checkpoints_needs_only_the_standard_library(key, tmp_path):
    events(3)
    result = subprocess.run(
        [sys.executable, "-S", "-I", str(VERIFY), str(export(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "OK: 3 events verified" in result.stdout


# --- keys ---


def test_a_development_key_is_generated_once_with_debug_on(settings, tmp_path):
    settings.AUDIT_LOCAL_SIGNING_KEY_FILE = tmp_path / "var" / "audit-signing-key"
    first = signing_key()
    path = settings.AUDIT_LOCAL_SIGNING_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.key_id == f"local-{datetime.now(UTC):%Y%m%d}"
    REGISTRY.register(first.private_text(), "generated audit signing key")
    assert signing_key().public_bytes() == first.public_bytes()


def test_audit_keys_new_prints_a_usable_key(settings):
    out = StringIO()
    call_command("audit_keys", "new", "--id", "prod-2026", stdout=out, stderr=StringIO())
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    REGISTRY.register(lines["private key"].strip(), "printed audit signing key")
    settings.AUDIT_SIGNING_KEY = lines["private key"].strip()
    assert signing_key().public_text() == lines["public key"].strip()
    assert lines["key id"].strip() == "prod-2026"
    with pytest.raises(CommandError, match="key id"):
        call_command("audit_keys", "new", "--id", "bad id!", stdout=StringIO(), stderr=StringIO())


def test_a_malformed_key_stops_start_up(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "AUDIT_SIGNING_KEY": "k1:YWJj"}
    env["FAILOVER_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], capture_output=True, text=True, env=env,
        cwd=VERIFY.parents[1], timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "AUDIT_SIGNING_KEY: key 'k1': 3 bytes, an Ed25519 key has 32" in result.stderr


# --- after an append, and a store that is down ---


def test_every_nth_event_queues_a_checkpoint_after_commit(
    key, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 4
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        after_append(3)
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        after_append(8)
    assert len(callbacks) == 1


def test_the_task_takes_a_checkpoint(key, checkpoint_dir):
    from audit.tasks import checkpoint_task

    events(2)
    assert checkpoint_task.name == "audit.tasks.take_checkpoint"
    assert checkpoint_task() == {
        "status": "taken", "seq": 2, "message": "", "stored": ["local"], "more": False
    }  # fmt: skip


def test_a_store_that_is_down_fails_the_checkpoint_not_the_append(
    key, settings, checkpoint_dir, s3, s3_server
):
    from tests.harness.ports import free_port

    name = f"ckpt-down-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    settings.AUDIT_CHECKPOINT_S3_BUCKET = name
    settings.AUDIT_CHECKPOINT_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nobody
    events(3)
    outcome = take_checkpoint()
    assert outcome.status == "failed" and f"S3 bucket {name}" in outcome.message
    assert outcome.stored == ("local",)
    assert not Checkpoint.objects.exists()  # indexed only once every store has it
    events(1)  # appending goes on

    settings.AUDIT_CHECKPOINT_S3_ENDPOINT_URL = s3_server  # back: the next beat catches up
    outcome = take_checkpoint()
    assert (outcome.status, outcome.seq) == ("taken", 4)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]]
    assert keys == ["audit-checkpoints/" + checkpoint_name(s) for s in (3, 4)]
    assert list(Checkpoint.objects.values_list("seq", "stored")) == [
        (3, ["local", "s3"]),
        (4, ["local", "s3"]),
    ]
    assert verify_all().ok


# --- S3 with Object Lock (moto's server) ---


def test_s3_checkpoints_are_locked_in_compliance_mode(key, locked_bucket, s3):
    events(3)
    outcome = take_checkpoint()
    assert (outcome.status, outcome.stored) == ("taken", ("s3",))
    head = s3.head_object(Bucket=locked_bucket, Key="audit/" + checkpoint_name(3))
    # moto answers get_object_retention with the object itself; HEAD carries the same lock
    assert head["ObjectLockMode"] == "COMPLIANCE"
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(head["ObjectLockRetainUntilDate"] - expected) < timedelta(minutes=5)
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(
            Bucket=locked_bucket, Key="audit/" + checkpoint_name(3), VersionId=head["VersionId"]
        )


def test_verify_all_reads_the_checkpoints_from_s3(key, locked_bucket, s3):
    events(10)
    take_checkpoint()
    events(5)
    take_checkpoint()
    verdict = verify_all()
    assert verdict.ok and verdict.checkpoints["checked"] == 2
    assert (
        verdict.checkpoints["latest"]["name"] == f"s3://{locked_bucket}/audit/{checkpoint_name(15)}"
    )
    # someone with the app's AWS keys deletes the newest (a delete marker): its locked
    # version is still read, and the deletion is said
    s3.delete_object(Bucket=locked_bucket, Key="audit/" + checkpoint_name(15))
    cut(12)
    verdict = verify_all()
    assert verdict.reason.startswith("cut: the chain ends at #12 but checkpoint #15")
    assert any("was deleted" in w for w in verdict.checkpoints["warnings"])


def test_a_bucket_without_object_lock_is_refused(key, locked_bucket, s3, settings):
    name = f"ckpt-unlocked-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    settings.AUDIT_CHECKPOINT_S3_BUCKET = name
    events(2)
    outcome = take_checkpoint()
    assert outcome.status == "failed"
    assert f"S3 bucket '{name}' does not have Object Lock enabled" in outcome.message
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    verdict = verify_all()
    assert any("does not have Object Lock enabled" in w for w in verdict.checkpoints["warnings"])


# --- through a real worker ---


@pytest.mark.django_db(transaction=True)
def test_a_worker_takes_the_checkpoint_queued_by_every_nth_append(
    key, settings, checkpoint_dir, tmp_path, zone_dir
):
    from tests.harness.worker import celery_worker, wait_for

    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 5
    env = {"AUDIT_SIGNING_KEY": key.private_text(), "AUDIT_CHECKPOINT_DIR": str(checkpoint_dir)}
    with celery_worker(tmp_path, zone_dir, **env):
        with transaction.atomic():
            events(5)  # record_event calls after_append: #5 queues a checkpoint
            assert stored(checkpoint_dir) == []  # not before the commit
        wait_for(lambda: stored(checkpoint_dir), what="the worker's checkpoint")
    assert stored(checkpoint_dir) == [checkpoint_name(5)]
    assert verify_all().checkpoints["latest"]["seq"] == 5
