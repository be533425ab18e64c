"""Celery doors onto the intake services. Each takes an id and re-reads everything."""

from celery import shared_task

from failover.intake import processing, services

__all__ = ["process_delivery", "sweep_deliveries"]


@shared_task(ignore_result=True)
def process_delivery(delivery_id: int) -> str:
    return processing.process_waiting(delivery_id)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    return services.sweep()
