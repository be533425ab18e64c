"""An index of the configuration events' seq: the newest in one index step, which every
request fingerprint reads (approvals/fingerprints.py). Built CONCURRENTLY on PostgreSQL: the
audit table is the largest one, and a plain CREATE INDEX would hold every append (every
decision, signal and DNS step) for as long as the build takes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

INDEX = models.Index(
    fields=["seq"],
    name="audit_config_seq_idx",
    condition=models.Q(action__in=("config.created", "config.changed", "config.deleted")),
)


class AddIndexConcurrentlyWherePossible(migrations.AddIndex):
    def _on(self, schema_editor) -> migrations.AddIndex:
        if schema_editor.connection.vendor == "postgresql":
            return AddIndexConcurrently(self.model_name, self.index)
        return migrations.AddIndex(self.model_name, self.index)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._on(schema_editor).database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._on(schema_editor).database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("audit", "0005_app_role_append_path")]

    operations = [AddIndexConcurrentlyWherePossible("auditevent", INDEX)]
