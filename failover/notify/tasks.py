"""Thin Celery doors onto the notification services. Each takes an id and re-reads the row."""

from celery import shared_task

from failover.notify import services

__all__ = ["send_notification", "sweep_notifications"]


@shared_task(ignore_result=True)
def send_notification(notification_id: int) -> str:
    return services.send_notification(notification_id)


@shared_task(ignore_result=True)
def sweep_notifications() -> int:
    return services.sweep_notifications()
