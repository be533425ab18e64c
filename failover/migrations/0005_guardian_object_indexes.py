"""Index guardian's object-permission tables by object.

Reading the authority chains of the services on a page (failover.chain.authority_chains)
asks for the grants of those objects: `content_type = ? AND object_pk IN (...)`. guardian
indexes these tables by user/group and permission only (its 0003 dropped the index by
object), so that query read every grant of every service: linear in the number of services
(bench/scale.py). The tables are guardian's; the index is ours, hence plain SQL (the same
statements on PostgreSQL and SQLite) and no model state.
"""

from django.db import migrations

TABLES = {
    "failover_gop_object_idx": "guardian_groupobjectpermission",
    "failover_uop_object_idx": "guardian_userobjectpermission",
}


class Migration(migrations.Migration):
    dependencies = [
        ("failover", "0004_notification_retry_and_encrypted_url"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} (content_type_id, object_pk)",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table in TABLES.items()
    ]
