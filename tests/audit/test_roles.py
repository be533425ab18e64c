"""The app's database role can append to the audit log and nothing more (DESIGN invariant 18).

The suite runs its queries as the app role (tests/conftest.py); each attack of issue 13 is
tried as that role, then as a fresh login of it, then as the owner, who meets the triggers.
"""

import logging

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit import roles
from audit.chain import stored_event_hash
from audit.models import AuditEvent, ChainHead
from audit.services import record_event
from audit.verify import verify_chain
from tests.conftest import APP_ROLE
from tests.tamper import as_owner

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ATTACKS = [
    "UPDATE audit_auditevent SET actor = 'identity' WHERE seq = 1",
    "DELETE FROM audit_auditevent WHERE seq = 2",
    "TRUNCATE audit_auditevent",
    "UPDATE audit_chainhead SET seq = 0, hash = repeat('0', 64)",
    "DELETE FROM audit_chainhead",
    "TRUNCATE audit_chainhead",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
    "DROP TRIGGER audit_event_no_update ON audit_auditevent",
    "DROP TRIGGER audit_event_advance_head ON audit_auditevent",
    "SET session_replication_role = replica",
    "UPDATE django_migrations SET name = 'x'",
    "INSERT INTO audit_checkpoint (seq, hash, signed_at, key_id, body, signature, stored) "
    "VALUES (1, 'x', now(), 'k', '{}', 's', '[]')",
]


@pytest.fixture
def history(db):
    for n in range(5):
        record_event(action="config.changed", object_type="x", object_id=str(n), data={"n": n})


def refused(sql: str, cursor) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        cursor.execute(sql)
    return str(caught.value)


@pytest.mark.parametrize("sql", ATTACKS[:-1])
def test_the_app_role_cannot_rewrite_cut_or_unguard_the_log(history, sql):
    with connection.cursor() as cursor:
        message = refused(sql, cursor)
    assert "permission denied" in message or "must be owner" in message, message
    assert verify_chain().ok and ChainHead.objects.get().seq == 5


def test_the_app_role_may_append_checkpoints(history):
    with connection.cursor() as cursor:
        cursor.execute(ATTACKS[-1])
        message = refused("DELETE FROM audit_checkpoint", cursor)
    assert "permission denied" in message


def test_the_old_truncate_switch_is_gone(history):
    with connection.cursor() as cursor:
        cursor.execute("SET failover.allow_audit_truncate = 'on'")
        assert "permission denied" in refused("TRUNCATE audit_auditevent", cursor)
        with as_owner(cursor):  # even the owner meets the trigger: no switch turns it off
            assert "TRUNCATE refused" in refused("TRUNCATE audit_auditevent", cursor)
            assert "append-only" in refused("DELETE FROM audit_auditevent", cursor)
        cursor.execute("RESET failover.allow_audit_truncate")
    assert AuditEvent.objects.count() == 5


def forged(seq: int, prev_hash: str) -> AuditEvent:
    event = AuditEvent(
        seq=seq,
        created_at=AuditEvent.objects.last().created_at,
        actor="identity",
        action="decision.approve",
        object_type="x",
        object_id="1",
        data={},
        prev_hash=prev_hash,
    )
    event.hash = stored_event_hash(event)
    return event


@pytest.mark.parametrize("where", ["ahead", "behind", "wrong link"])
def test_an_insert_that_does_not_follow_the_head_is_refused(history, where):
    """The head moves only by one, from the event it names: no gaps, no rewinds, no forks."""
    head = ChainHead.objects.get()
    seq, prev = {
        "ahead": (head.seq + 2, head.hash),
        "behind": (head.seq, AuditEvent.objects.get(seq=head.seq - 1).hash),
        "wrong link": (head.seq + 1, "f" * 64),
    }[where]
    with (
        pytest.raises(DatabaseError, match=r"does not follow the chain head|duplicate key"),
        transaction.atomic(),
    ):
        forged(seq, prev).save()
    assert ChainHead.objects.get().seq == 5 and verify_chain().ok


def test_the_append_path_moves_the_head_for_the_app_role(history):
    event = record_event(action="config.changed", object_type="x", object_id="9")
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (event.seq, event.hash) == (6, event.hash)


def test_a_login_as_the_app_role_is_refused_the_same(history, django_db_blocker):
    """Not only SET ROLE: a separate connection logging in as the role meets the same walls."""
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, dbname=s["NAME"], user=APP_ROLE
    ) as other:
        other.autocommit = True
        for sql in (
            "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
            "TRUNCATE audit_auditevent",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                other.execute(sql)
        assert other.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)


def test_the_app_role_has_no_problems_and_a_superuser_is_named(history):
    assert roles.problems() == []
    with connection.cursor() as cursor, as_owner(cursor):
        found = roles.problems()
    assert len(found) == 1 and "is a superuser" in found[0]


def test_an_owning_or_overgranted_role_is_named(history):
    with connection.cursor() as cursor, as_owner(cursor):
        cursor.execute(f"GRANT UPDATE ON audit_chainhead TO {APP_ROLE}")
    found = roles.problems()
    assert len(found) == 1 and "grant_app_role" in found[0]
    with connection.cursor() as cursor, as_owner(cursor):
        cursor.execute(f"ALTER TABLE audit_auditevent OWNER TO {APP_ROLE}")
    assert any("owns the audit table" in text for text in roles.problems())


def test_check_and_the_first_connection_warn_about_a_superuser(history, caplog, monkeypatch):
    from django.core.management.base import SystemCheckError

    with connection.cursor() as cursor, as_owner(cursor):
        with pytest.raises(SystemCheckError, match=r"audit\.W001.*superuser"):
            call_command("check", databases=["default"], fail_level="WARNING")
        monkeypatch.setattr(roles, "_warned", False)
        with caplog.at_level(logging.WARNING, logger="failover.audit"):
            roles.warn_once(None, connection)
    assert "is a superuser" in caplog.text


def test_grant_app_role_refuses_a_role_that_does_not_exist(history):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"no role 'nobody_here'.*create it first"):
        call_command("grant_app_role", "nobody_here")
