"""Admin behaviour shared by the apps: configuration edits are evidence, evidence is read-only."""

from __future__ import annotations

from audit.actions import CONFIG_CHANGED, CONFIG_CREATED, CONFIG_DELETED
from audit.services import record_event


def _snapshot(obj, fields) -> dict:
    return {name: str(getattr(obj, name, "")) for name in fields}


def _identity(obj) -> tuple[str, str, str]:
    """Taken before a delete: afterwards the object has no primary key."""
    return obj._meta.label_lower, str(obj.pk), str(obj)


def _record_deleted(request, gone) -> None:
    for label, pk, text in gone:
        record_event(
            action=CONFIG_DELETED,
            object_type=label,
            object_id=pk,
            actor=request.user,
            data={"object": text},
        )


class AuditedAdminMixin:
    """Records who created, changed (which fields) or deleted configuration in the admin."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changed = list(form.changed_data)
        if change and not changed:
            return
        record_event(
            action=CONFIG_CHANGED if change else CONFIG_CREATED,
            obj=obj,
            actor=request.user,
            data={"object": str(obj), "fields": _snapshot(obj, changed)},
        )

    def delete_model(self, request, obj):
        gone = [_identity(obj)]
        super().delete_model(request, obj)
        _record_deleted(request, gone)

    def delete_queryset(self, request, queryset):
        gone = [_identity(obj) for obj in queryset]
        super().delete_queryset(request, queryset)
        _record_deleted(request, gone)

    def save_formset(self, request, form, formset, change):
        gone = [_identity(f.instance) for f in formset.deleted_forms if f.instance.pk is not None]
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            record_event(
                action=CONFIG_CREATED, obj=obj, actor=request.user, data={"object": str(obj)}
            )
        for obj, fields in formset.changed_objects:
            record_event(
                action=CONFIG_CHANGED,
                obj=obj,
                actor=request.user,
                data={"object": str(obj), "fields": _snapshot(obj, fields)},
            )
        _record_deleted(request, gone)


class ReadOnlyAdminMixin:
    """For records that only the services layer writes: browse and search, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
