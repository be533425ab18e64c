"""A PostgreSQL connection as the test database's owner, beside the suite's own (which acts as
the app's role: it may not see other sessions' queries, end them, or lock every row)."""

from __future__ import annotations

from django.db import connection


def owner_connection(*, autocommit: bool = False):
    import psycopg

    c = connection.settings_dict
    return psycopg.connect(
        host=c["HOST"], port=c["PORT"], user=c["USER"], dbname=c["NAME"], autocommit=autocommit
    )
