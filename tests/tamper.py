"""Editing the audit log behind the application's back, as a database superuser could: the
suite's session user is one (tests/conftest.py makes the app's queries run as the app role),
so these helpers step out of that role, switch the triggers off for one statement and step
back."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


@contextmanager
def as_owner(cursor):
    """The session's own (owner, superuser) rights for the statements inside."""
    role = connection.settings_dict.get("OPTIONS", {}).get("assume_role")
    if connection.vendor == "postgresql":
        cursor.execute("RESET ROLE")
    try:
        yield cursor
    finally:
        if role:
            cursor.execute(f"SET ROLE {connection.ops.quote_name(role)}")


def tamper(sql: str, params=None) -> None:
    """Run `sql` with the audit triggers off (session_replication_role = replica)."""
    with connection.cursor() as cursor, as_owner(cursor):
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
