"""Configuration edits made in the admin are evidence too: record what changed and who did it."""

from __future__ import annotations

from audit.services import record_event


def _snapshot(obj, fields) -> dict:
    return {name: str(getattr(obj, name, "")) for name in fields}


class AuditedAdminMixin:
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changed = list(form.changed_data)
        if change and not changed:
            return
        record_event(
            action="config.changed" if change else "config.created",
            obj=obj,
            actor=request.user,
            data={"object": str(obj), "fields": _snapshot(obj, changed)},
        )

    def delete_model(self, request, obj):
        label, pk, text = obj._meta.label_lower, obj.pk, str(obj)
        super().delete_model(request, obj)
        record_event(
            action="config.deleted",
            object_type=label,
            object_id=str(pk),
            actor=request.user,
            data={"object": text},
        )

    def delete_queryset(self, request, queryset):
        gone = [(o._meta.label_lower, o.pk, str(o)) for o in queryset]
        super().delete_queryset(request, queryset)
        for label, pk, text in gone:
            record_event(
                action="config.deleted",
                object_type=label,
                object_id=str(pk),
                actor=request.user,
                data={"object": text},
            )

    def save_formset(self, request, form, formset, change):
        deleting = [
            (f.instance._meta.label_lower, f.instance.pk, str(f.instance))
            for f in formset.deleted_forms
            if f.instance.pk is not None
        ]
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            record_event(
                action="config.created", obj=obj, actor=request.user, data={"object": str(obj)}
            )
        for obj, fields in formset.changed_objects:
            record_event(
                action="config.changed",
                obj=obj,
                actor=request.user,
                data={"object": str(obj), "fields": _snapshot(obj, fields)},
            )
        for label, pk, text in deleting:
            record_event(
                action="config.deleted",
                object_type=label,
                object_id=str(pk),
                actor=request.user,
                data={"object": text},
            )
