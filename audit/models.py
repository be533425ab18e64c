"""Append-only, hash-chained event log.

Imports nothing of the other apps: actors and objects are recorded by label and key, so the
log stays readable after the rows it describes are gone.
"""

from __future__ import annotations

from django.db import models

from audit.actions import CONFIG_ACTIONS


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove a recorded event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")


class AuditEvent(models.Model):
    """One thing that happened: who did what to which object, chained to the event before."""

    seq = models.BigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, editable=False)
    actor = models.CharField(max_length=150, editable=False, help_text="username or 'system'")
    action = models.CharField(max_length=80, db_index=True, editable=False)
    object_type = models.CharField(max_length=100, editable=False)
    object_id = models.CharField(max_length=64, editable=False)
    data = models.JSONField(default=dict, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "seq"]),
            # The configuration's newest event in one index step, read by every request
            # fingerprint (approvals/fingerprints.py); few rows, so appends barely pay for it.
            models.Index(
                fields=["seq"],
                name="audit_config_seq_idx",
                condition=models.Q(action__in=CONFIG_ACTIONS),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")


class ChainHead(models.Model):
    """Single row holding the newest event's sequence and hash; locked to append in order."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.seq}"


class Checkpoint(models.Model):
    """A signed statement that the chain reached `seq` with `hash`, taken by the worker after
    verifying the events since the previous one. The row is an index: verifiers trust the copies
    written outside the database (audit/checkpoints.py), never this table alone."""

    seq = models.BigIntegerField(unique=True, editable=False)
    hash = models.CharField(max_length=64, editable=False)
    signed_at = models.DateTimeField(editable=False)
    key_id = models.CharField(max_length=64, editable=False)
    body = models.TextField(editable=False, help_text="the exact signed bytes (canonical JSON)")
    signature = models.CharField(max_length=128, editable=False, help_text="base64 Ed25519")
    stored = models.JSONField(default=list, editable=False, help_text="where copies were written")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.key_id})"


class Verification(models.Model):
    """One run of the whole verification (chain and checkpoints) as a background job, polled
    through the API: long chains take longer than a web request may."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # the job itself failed (not the chain): see `reason`

    requested_by = models.CharField(max_length=150, help_text="username or 'system'")
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.BigIntegerField(null=True, blank=True, help_text="events when it started")
    verified = models.BigIntegerField(default=0, help_text="events verified so far")
    ok = models.BooleanField(null=True, blank=True)
    first_broken_seq = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    checkpoints = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"verification {self.pk} ({self.state})"
