"""The request fingerprint, read by every poll, API read and decision, reads the same few
pages of the audit log however long the log grows, and is planned once per connection: its
read of the configuration's newest event is one step of an index of those events alone, and
the actions it looks for are written into the query (approvals/fingerprints.py). Counted in
the buffers PostgreSQL touches running the prepared statement as the web processes run it,
on a log where the configuration was last edited 100,000 events ago. Before, the plan walked
the index of every event back to the last configuration event (36 ms a read there, where a
poll costs 0.5 ms), or, with the index, planned each run anew (1-2 ms)."""

from __future__ import annotations

import pytest
from django.db import connection

from approvals.fingerprints import _params, _query, request_facts
from failover.services import declare_request
from tests.factories import make_service, user
from tests.harness.owner import owner_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run(pk: int) -> tuple[int, int]:
    """Pages the fingerprint touches and how many of its last runs reused one plan (the
    generic plan a prepared statement may settle on after five runs, planned once) rather
    than planning anew, run as the web processes run it: twelve times on one connection,
    which prepares it on the fifth."""
    for _ in range(6):
        request_facts(pk)
    before = plans(pk)
    for _ in range(6):
        request_facts(pk)
    name, generic = plans(pk)
    with connection.cursor() as cursor:
        arguments = ", ".join(
            str(value) if isinstance(value, int) else "'" + value.replace("'", "") + "'"
            for value in [*_params(), pk]
        )
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({arguments})")
        (plan,) = cursor.fetchone()[0]
    top = plan["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"], generic - before[1]


def plans(pk: int) -> tuple[str, int]:
    """The fingerprint's prepared statement on this connection, and its generic plans run."""
    # psycopg sends it with $1... for %s: found by its text around them.
    tail = _query().rsplit(" WHERE ", 1)[0].rsplit(" JOIN ", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans FROM pg_prepared_statements"
            " WHERE strpos(statement, %s) > 0",
            [tail],
        )
        name, generic = cursor.fetchone()
    return name, generic


def a_long_audit_log(config: int, others: int) -> None:
    """`config` configuration events, then `others` webhook receipts, written around the chain
    (the owner, with the append-only triggers off): only the log's length matters here."""
    with owner_connection(autocommit=True) as owner:
        owner.execute("SET session_replication_role = replica")
        (top,) = owner.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_auditevent").fetchone()
        insert = (
            "INSERT INTO audit_auditevent"
            " (seq, created_at, actor, action, object_type, object_id, data, prev_hash, hash)"
            " SELECT %s + g, now(), 'x', %s, %s, (g %% 1000)::text, '{}', '', md5(%s || g)"
            " FROM generate_series(1, %s) g"
        )
        owner.execute(insert, [top, "config.changed", "intake.integration", "c", config])
        owner.execute(
            insert, [top + config, "intake.delivery_received", "intake.delivery", "r", others]
        )
        owner.execute("ANALYZE audit_auditevent")


def test_the_fingerprint_reads_no_more_of_a_longer_audit_log():
    request = declare_request(
        actor=user("declarer"), service=make_service("shop"), target="failover", reason="r"
    )
    short, _ = run(request.pk)
    a_long_audit_log(config=20_000, others=100_000)
    long, planned_once = run(request.pk)
    assert long <= short + 20, (short, long)
    assert planned_once == 6  # PostgreSQL keeps one plan: no run pays for planning
