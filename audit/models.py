"""Append-only, hash-chained event log.

Imports nothing of the other apps: actors and objects are recorded by label and key, so the
log stays readable after the rows it describes are gone.
"""

from __future__ import annotations

from django.db import models


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
        indexes = [models.Index(fields=["object_type", "object_id", "seq"])]

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
