"""Void open approvals the moment their deciders lose the authority, whichever door changed
the chain: our services, guardian's object-permission admin, the user admin, a shell."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from guardian.models import GroupObjectPermission, UserObjectPermission

from approvals.models import ServiceAccount
from approvals.services import void_lapsed_decisions

User = get_user_model()


def _service_id(grant) -> int | None:
    ct = grant.content_type
    if ct.app_label != "failover" or ct.model != "service":
        return None
    try:
        return int(grant.object_pk)
    except (TypeError, ValueError):
        return None


def _void(**kwargs) -> None:
    void_lapsed_decisions(**kwargs)


@receiver(post_delete, sender=UserObjectPermission)
def _user_grant_revoked(sender, instance, **kwargs):
    if (service_id := _service_id(instance)) is not None:
        _void(
            user_ids=[instance.user_id],
            service_ids=[service_id],
            cause=f"{instance.permission.codename} revoked",
        )


@receiver(post_delete, sender=GroupObjectPermission)
def _group_grant_revoked(sender, instance, **kwargs):
    if (service_id := _service_id(instance)) is not None:
        members = User.objects.filter(groups=instance.group_id).values_list("pk", flat=True)
        _void(
            user_ids=list(members),
            service_ids=[service_id],
            cause=f"{instance.permission.codename} revoked from group {instance.group.name}",
        )


@receiver(m2m_changed, sender=User.groups.through)
def _membership_removed(sender, instance, action, reverse, pk_set, **kwargs):
    if action == "pre_clear":  # post_clear no longer knows who was in the group
        instance._cleared_pks = set(
            (instance.user_set if reverse else instance.groups).values_list("pk", flat=True)
        )
        return
    if action == "post_clear":
        pk_set = getattr(instance, "_cleared_pks", set())
    elif action != "post_remove":
        return
    if not pk_set:
        return
    users = list(pk_set) if reverse else [instance.pk]
    _void(user_ids=users, cause="removed from a group")


@receiver(pre_save, sender=User)
def _remember_active(sender, instance, update_fields=None, **kwargs):
    # A sign-in saves last_login only: no need to read the row for that.
    if instance.pk and (update_fields is None or "is_active" in update_fields):
        instance._was_active = (
            User.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
        )


@receiver(post_save, sender=User)
def _deactivated(sender, instance, created, **kwargs):
    if not created and getattr(instance, "_was_active", False) and not instance.is_active:
        _void(user_ids=[instance.pk], cause="account disabled")


@receiver(post_save, sender=ServiceAccount)
def _became_machine(sender, instance, created, **kwargs):
    if created:
        _void(user_ids=[instance.user_id], cause="made a service account")
