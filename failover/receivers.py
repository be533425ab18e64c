"""Audit every change to an authority chain, whichever door made it (our services, guardian's
object-permission admin, a shell): grants, revocations and group membership."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from guardian.models import GroupObjectPermission, UserObjectPermission

from audit.actions import (
    AUTHORITY_GRANTED,
    AUTHORITY_REVOKED,
    GROUP_MEMBER_ADDED,
    GROUP_MEMBER_REMOVED,
)
from audit.services import record_event
from failover.models import Service


def _service_grant(instance) -> dict | None:
    if instance.content_type.app_label != "failover" or instance.content_type.model != "service":
        return None
    slug = Service.objects.filter(pk=instance.object_pk).values_list("slug", flat=True).first()
    holder = (
        {"group": instance.group.name}
        if isinstance(instance, GroupObjectPermission)
        else {"user": instance.user.username}
    )
    return {
        "service": slug,
        "service_id": str(instance.object_pk),
        "authority": instance.permission.codename,
        **holder,
    }


@receiver(post_save, sender=UserObjectPermission)
@receiver(post_save, sender=GroupObjectPermission)
def _granted(sender, instance, created, **kwargs):
    data = _service_grant(instance)
    if data is not None and created:
        record_event(
            action=AUTHORITY_GRANTED,
            object_type="failover.service",
            object_id=data["service_id"],
            data=data,
        )


@receiver(post_delete, sender=UserObjectPermission)
@receiver(post_delete, sender=GroupObjectPermission)
def _revoked(sender, instance, **kwargs):
    data = _service_grant(instance)
    if data is not None:
        record_event(
            action=AUTHORITY_REVOKED,
            object_type="failover.service",
            object_id=data["service_id"],
            data=data,
        )


@receiver(m2m_changed, sender=get_user_model().groups.through)
def _membership(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if action == "pre_clear":
        pk_set = set(
            (instance.user_set if reverse else instance.groups).values_list("pk", flat=True)
        )
    if not pk_set:
        return
    if reverse:  # group.user_set changed
        groups = [instance.name]
        users = list(
            get_user_model().objects.filter(pk__in=pk_set).values_list("username", flat=True)
        )
    else:  # user.groups changed
        groups = list(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        users = [instance.get_username()]
    audit_action = GROUP_MEMBER_ADDED if action == "post_add" else GROUP_MEMBER_REMOVED
    for group in groups:
        record_event(
            action=audit_action,
            object_type="auth.group",
            object_id=group,
            data={"group": group, "users": sorted(users)},
        )
