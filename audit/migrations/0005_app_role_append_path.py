"""The app's database role can only append (DESIGN invariant 18, audit/roles.py grants it).

- TRUNCATE of the audit tables is refused always: the session switch that allowed it is gone
  (any role could set it). Only the owner can get past the trigger, by disabling it or with
  session_replication_role, which the owner could always do: that is why the app must not run
  as the owner.
- The chain head moves only on the append path: `audit_head_for_append()` locks and returns it
  (the app role may not lock it itself: SELECT FOR UPDATE needs UPDATE), and a trigger on each
  inserted event checks that it follows the head (seq + 1, naming the head's hash) and advances
  the head; an event appended without the head row, out of order or twice is refused. Both run with the owner's rights, so the app role needs no UPDATE on the head and
  cannot rewind it.
- Checkpoints are append-only like events.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_event_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: TRUNCATE refused'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_checkpoint_no_update ON audit_checkpoint;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint;
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();
DROP TRIGGER IF EXISTS audit_chainhead_no_truncate ON audit_chainhead;
CREATE TRIGGER audit_chainhead_no_truncate BEFORE TRUNCATE ON audit_chainhead
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();

CREATE OR REPLACE FUNCTION audit_head_for_append() RETURNS TABLE (seq bigint, hash varchar)
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
        ON CONFLICT (id) DO NOTHING;
    RETURN QUERY SELECT h.seq, h.hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_event_advance_head() RETURNS trigger
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    -- One statement: the head moves only from the event before this one (it locks the row).
    UPDATE audit_chainhead SET seq = NEW.seq, hash = NEW.hash
        WHERE id = 1 AND seq = NEW.seq - 1 AND hash = NEW.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit event #% does not follow the chain head', NEW.seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_event_advance_head ON audit_auditevent;
CREATE TRIGGER audit_event_advance_head AFTER INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_advance_head();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_advance_head ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_advance_head();
DROP FUNCTION IF EXISTS audit_head_for_append();
DROP TRIGGER IF EXISTS audit_chainhead_no_truncate ON audit_chainhead;
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_update ON audit_checkpoint;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_checkpoint_verification")]
    operations = [migrations.RunPython(forwards, backwards)]
