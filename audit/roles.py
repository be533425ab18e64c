"""Two PostgreSQL roles (DESIGN invariant 18): the owner runs migrations, the app role runs web
and workers. The app role reads and writes the product's tables but may only append audit
events and checkpoints and only read the chain head (a trigger moves it, migration 0005): it
owns nothing, so it cannot switch the audit triggers off, and it is no superuser.

`grant(role)` is run by the owner (`manage.py grant_app_role`, or after every `migrate` when
DATABASE_APP_ROLE names the role); `problems()` says what is wrong with the role the app runs
as, for `manage.py check --database default` and a warning when each process first connects.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import checks
from django.db import connections

logger = logging.getLogger("failover.audit")

APPEND_ONLY = ("audit_auditevent", "audit_checkpoint")
READ_ONLY = ("audit_chainhead", "django_migrations")
HOW_TO = "see README, 'Database roles'"


def grant_statements(role: str, quote) -> list[str]:
    """What the owner runs so that `role` can do the app's work and no more."""
    r = quote(role)
    schema = "CURRENT_SCHEMA"  # replaced below: GRANT needs a name, not a function
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {', '.join(APPEND_ONLY)} "
        f"FROM {r}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {', '.join(READ_ONLY)} "
        f"FROM {r}",
        "REVOKE ALL ON FUNCTION audit_head_for_append() FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION audit_head_for_append() TO {r}",
        # Tables later migrations create: the next `migrate` re-runs all of this anyway.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]


def grant(role: str, using: str = "default") -> None:
    """Give `role` the app's rights on this database; run as the owner. Idempotent."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            raise ValueError(f"no role {role!r} on this server: create it first ({HOW_TO})")
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        for sql in grant_statements(role, connection.ops.quote_name):
            cursor.execute(sql.replace("CURRENT_SCHEMA", schema))


def problems(using: str = "default") -> list[str]:
    """Why the role this connection runs as could rewrite the audit log; [] when it cannot."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT current_user, r.rolsuper, r.rolcreaterole,
                   pg_has_role(current_user, c.relowner, 'MEMBER'),
                   has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE'),
                   has_table_privilege('audit_chainhead', 'UPDATE, DELETE, TRUNCATE')
            FROM pg_roles r, pg_class c
            WHERE r.rolname = current_user AND c.oid = to_regclass('audit_auditevent')
            """
        )
        row = cursor.fetchone()
    if row is None:  # not migrated yet
        return []
    role, superuser, createrole, owns, can_change, can_move_head = row
    if superuser:
        return [
            f"the app's database role {role!r} is a superuser: the audit triggers stop "
            f"nothing it does ({HOW_TO})"
        ]
    found = []
    if owns:
        found.append(
            f"the app's database role {role!r} owns the audit table: it can switch "
            f"the append-only triggers off ({HOW_TO})"
        )
    if createrole:
        found.append(
            f"the app's database role {role!r} can create roles, and so grant itself "
            f"the owner's ({HOW_TO})"
        )
    if can_change or can_move_head:
        found.append(
            f"the app's database role {role!r} may update, delete or truncate audit "
            f"records or move the chain head: run `manage.py grant_app_role {role}` "
            f"as the owner ({HOW_TO})"
        )
    return found


@checks.register(checks.Tags.database)
def check_app_role(app_configs=None, databases=None, **kwargs):
    if not databases or "default" not in databases:
        return []
    return [checks.Warning(text, id="audit.W001") for text in problems()]


_warned = False


def warn_once(sender, connection, **kwargs):
    """On a process's first connection: a web or worker process running with a role that can
    rewrite history says so in its log, where `check` would not be run."""
    global _warned
    if _warned or connection.alias != "default" or connection.vendor != "postgresql":
        return
    _warned = True
    try:
        for text in problems():
            logger.warning("audit: %s", text)
    except Exception:  # a database that is not migrated or not reachable: not our concern here
        logger.debug("audit role check skipped", exc_info=True)


def grant_after_migrate(sender, using="default", **kwargs):
    """After `migrate` as the owner, DATABASE_APP_ROLE gets its rights on the new tables."""
    role = settings.DATABASE_APP_ROLE
    if role and connections[using].vendor == "postgresql":
        grant(role, using)
