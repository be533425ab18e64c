"""The product's own Prometheus metrics, read from the database at scrape time.

Computed from rows, not counted in memory: every web process answers the same, whichever
process or worker did the work, and nothing is lost when one restarts. Each query is bounded:
it reads an index, a handful of rows (queued work, the newest job), or the requests declared
within `WINDOW` (indexed by `created_at`), never a whole growing table. A part that fails (the
database, the broker) is left out and said so in `failover_metrics_part_ok`; the rest still
answers.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from approvals.models import Decision
from approvals.readiness.models import ReadinessCheck
from audit.models import ChainHead, Checkpoint, Verification
from dnsproviders.models import DnsChange, RateBucket
from failover import __version__
from failover.celery import app as celery_app
from failover.heartbeat import ages as heartbeat_ages
from failover.intake.models import Delivery
from failover.models import FailoverRequest
from failover.notify.models import Notification
from failover.states import ACTIVE_STATES, OPEN_STATES

logger = logging.getLogger(__name__)

Metric = GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily

WINDOW = timedelta(days=30)
# Seconds: from a quick quorum (a minute) to a failover that took a day. Few buckets: each is
# a series per service and stage.
BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 86400)
MAX_SERVICES = 50  # services with series of their own; the rest are summed as OTHERS
OTHERS = "(others)"
# The queues the workers consume (CELERY_TASK_ROUTES, plus Celery's default).
QUEUES = ("celery", "critical", "readiness", "intake")
PENDING_CHANGES = (
    DnsChange.Status.QUEUED,
    DnsChange.Status.SUBMITTING,
    DnsChange.Status.SUBMITTED,
    DnsChange.Status.INSYNC,
)
BROKER_TIMEOUT = 1.0  # seconds: a dead broker costs a scrape this much, not a TCP timeout


def package_version() -> str:
    return __version__


class FailoverCollector(Collector):
    """Registered once per exposition (failover/metrics_view.py); yields every metric below."""

    def __init__(self, now: Callable[[], datetime] = timezone.now):
        self.now = now

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        now = self.now()
        parts_ok = GaugeMetricFamily(
            "failover_metrics_part_ok",
            "1 when this part of the metrics was read, 0 when it failed (see the logs)",
            labels=["part"],
        )
        for name, part in PARTS:
            try:
                metrics = list(part(now))
            except Exception:  # a scrape never fails whole: the rest is still worth having
                logger.exception("metrics: reading %s failed", name)
                parts_ok.add_metric([name], 0)
                continue
            parts_ok.add_metric([name], 1)
            yield from metrics
        yield parts_ok
        info = GaugeMetricFamily(
            "failover_build_info", "The running version (always 1)", labels=["version"]
        )
        info.add_metric([package_version()], 1)
        yield info
        yield GaugeMetricFamily(
            "failover_metrics_collect_seconds",
            "How long reading the product's metrics took",
            value=time.monotonic() - started,
        )


def requests(now: datetime) -> Iterator[Metric]:
    # Those declared within WINDOW (created_at index), and every one still active however old
    # (state index, a handful of rows): a request stuck for months is what someone must see.
    family = GaugeMetricFamily(
        "failover_requests",
        f"Failover requests by service and state: declared in the last {WINDOW.days} days, or "
        f"still active; past the {MAX_SERVICES} services with the most, their sum as "
        f"service={OTHERS!r}",
        labels=["service", "state"],
    )
    rows = (
        FailoverRequest.objects.filter(Q(created_at__gte=now - WINDOW) | Q(state__in=ACTIVE_STATES))
        .order_by()
        .values_list("service__slug", "state")
        .annotate(n=Count("pk"))
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for service, state, count in rows:
        counts[service][state] += count
    for service, by_state in bounded(counts, lambda states: sum(states.values())).items():
        for state, count in sorted(by_state.items()):
            family.add_metric([service, state], count)
    yield family


def bounded(by_service: dict[str, Any], size: Callable[[Any], int]) -> dict[str, Any]:
    """The MAX_SERVICES biggest entries by `size` as they are, the rest merged under OTHERS:
    a thousand services must not make a thousand series of everything (each one costs
    Prometheus memory, and this scrape time)."""
    ranked = sorted(by_service, key=lambda service: (-size(by_service[service]), service))
    kept = {service: by_service[service] for service in ranked[:MAX_SERVICES]}
    rest = [by_service[service] for service in ranked[MAX_SERVICES:]]
    if rest:
        kept[OTHERS] = merge(rest)
    return kept


def merge(values: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = defaultdict(int)
    for value in values:
        for key, count in value.items():
            merged[key] += count
    return merged


def durations(now: datetime) -> Iterator[Metric]:
    """Declared -> quorum (approved_at), -> applied (applied_at), -> verified (the request's
    last failover DNS change verified), for requests declared within WINDOW. The database
    counts the buckets (one grouped query a stage): no row comes back to Python."""
    since = now - WINDOW
    requests = FailoverRequest.objects.filter(created_at__gte=since)
    failover = DnsChange.Direction.FAILOVER
    later = DnsChange.objects.filter(
        Q(verified_at__gt=OuterRef("verified_at"))
        | Q(verified_at=OuterRef("verified_at"), pk__gt=OuterRef("pk")),
        request=OuterRef("request"),
        direction=failover,
    )
    # Each request's last verified change: one row a request, found through the unique
    # (request, direction, ...) index.
    last_changes = DnsChange.objects.filter(
        ~Exists(later),
        request__created_at__gte=since,
        direction=failover,
        verified_at__isnull=False,
    )
    stages: dict[str, tuple[QuerySet[Any], str, str, str, str]] = {
        "quorum": (requests, "approved_at", "created_at", "service__slug", "drill"),
        "applied": (requests, "applied_at", "created_at", "service__slug", "drill"),
        "verified": (
            last_changes,
            "verified_at",
            "request__created_at",
            "request__service__slug",
            "request__drill",
        ),
    }
    for stage, (rows, reached, declared, service_field, drill_field) in stages.items():
        family = HistogramMetricFamily(
            f"failover_time_to_{stage}_seconds",
            f"Seconds from declaring a request to its {stage}, requests declared in the last "
            f'{WINDOW.days} days, drills (drill="true") apart from incidents; past the '
            f"{MAX_SERVICES} services with the most, their sum as service={OTHERS!r}",
            labels=["service", "drill"],
        )
        for drill in (False, True):
            kind = rows.filter(**{drill_field: drill})
            by_service = stage_counts(kind, reached, declared, service_field)
            for service, counts in sorted(bounded(by_service, lambda c: c["count"]).items()):
                buckets = [(str(float(bound)), counts[f"le{bound}"]) for bound in BUCKETS]
                buckets.append(("+Inf", counts["count"]))
                family.add_metric(
                    [service, str(drill).lower()], buckets, sum_value=counts["seconds"]
                )
        yield family


def stage_counts(
    rows: QuerySet[Any], reached: str, declared: str, service_field: str
) -> dict[str, dict[str, float]]:
    took = ExpressionWrapper(F(reached) - F(declared), output_field=DurationField())
    within = {
        f"le{bound}": Count(
            "pk", filter=Q(**{f"{reached}__lte": F(declared) + timedelta(seconds=bound)})
        )
        for bound in BUCKETS
    }
    grouped = (
        rows.filter(**{f"{reached}__isnull": False})
        .order_by()
        .values(service_field)
        .annotate(count=Count("pk"), total=Sum(took), **within)
    )
    found: dict[str, dict[str, float]] = {}
    for row in grouped:
        values: dict[str, Any] = dict(row)
        service, total = values.pop(service_field), values.pop("total")
        found[service] = {**values, "seconds": total.total_seconds() if total else 0.0}
    return found


def counted_by(name: str, documentation: str, label: str, rows: Any, field: str) -> Metric:
    """A gauge of how many of `rows` there are by the value of `field` (one GROUP BY)."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in rows.order_by().values_list(field).annotate(n=Count("pk")):
        family.add_metric([value], count)
    return family


def decisions(now: datetime) -> Iterator[Metric]:
    yield counted_by(
        "failover_decisions",
        f"Decisions by kind on requests declared in the last {WINDOW.days} days",
        "kind",
        Decision.objects.filter(request__created_at__gte=now - WINDOW),
        "kind",
    )


def dns_changes(now: datetime) -> Iterator[Metric]:
    changes = DnsChange.objects.filter(request__created_at__gte=now - WINDOW).order_by()
    by_state = GaugeMetricFamily(
        "failover_dns_changes",
        f"DNS changes by provider and status, of requests declared in the last {WINDOW.days} days",
        labels=["provider", "kind", "status"],
    )
    rows = changes.values_list(
        "provider_account__name", "provider_account__kind", "status"
    ).annotate(n=Count("pk"))
    for provider, kind, status, count in rows:
        by_state.add_metric([provider, kind, status], count)
    yield by_state
    errors = GaugeMetricFamily(
        "failover_dns_change_errors",
        "DNS changes whose last provider call failed (what the change row recorded), by "
        f"provider and error code, of requests declared in the last {WINDOW.days} days",
        labels=["provider", "kind", "code"],
    )
    rows = (
        changes.exclude(error="")
        .values_list("provider_account__name", "provider_account__kind", "error_code")
        .annotate(n=Count("pk"))
    )
    for provider, kind, code, count in rows:
        errors.add_metric([provider, kind, code or "unknown"], count)
    yield errors


def rate_limits(now: datetime) -> Iterator[Metric]:
    # One row per bucket (a Route 53 account, an intake integration): a few rows.
    waits = CounterMetricFamily(
        "failover_rate_limit_waits",
        "Times a worker slept for a token of a shared token bucket (e.g. Route 53's limit)",
        labels=["bucket"],
    )
    waited = CounterMetricFamily(
        "failover_rate_limit_waited_seconds",
        "Seconds workers slept for a token of a shared token bucket",
        labels=["bucket"],
    )
    for key, count, seconds in RateBucket.objects.values_list("key", "waits", "waited_seconds"):
        waits.add_metric([key], count)
        waited.add_metric([key], seconds)
    yield waits
    yield waited


def waiting_work(now: datetime) -> Iterator[Metric]:
    """The age of the oldest work waiting in each outbox (0 when none waits). The workers
    read these rows, not the broker's messages: a lost message leaves its row here."""
    oldest: dict[str, datetime | None] = {
        "dns_change": DnsChange.objects.filter(status__in=PENDING_CHANGES)
        .order_by()
        .aggregate(at=Min("created_at"))["at"],
        "intake_delivery": Delivery.objects.filter(status=Delivery.Status.RECEIVED)
        .order_by()
        .aggregate(at=Min("received_at"))["at"],
        "readiness_check": FailoverRequest.objects.filter(
            Q(readiness_checks__isnull=True) | Q(readiness_checks__details__not_reported=True),
            state__in=OPEN_STATES,
        )
        .order_by()
        .aggregate(at=Min("created_at"))["at"],
        "notification": Notification.objects.filter(status=Notification.Status.QUEUED)
        .order_by()
        .aggregate(at=Min("created_at"))["at"],
    }
    family = GaugeMetricFamily(
        "failover_oldest_waiting_seconds",
        "Age of the oldest work waiting in each outbox, 0 when none waits",
        labels=["work"],
    )
    for work, at in oldest.items():
        family.add_metric([work], 0.0 if at is None else max(0.0, (now - at).total_seconds()))
    yield family
    counts = GaugeMetricFamily(
        "failover_waiting_work", "Work waiting in each outbox", labels=["work"]
    )
    counts.add_metric(["dns_change"], DnsChange.objects.filter(status__in=PENDING_CHANGES).count())
    counts.add_metric(
        ["intake_delivery"], Delivery.objects.filter(status=Delivery.Status.RECEIVED).count()
    )
    counts.add_metric(
        ["notification"],
        Notification.objects.filter(status=Notification.Status.QUEUED).count(),
    )
    yield counts


def deliveries(now: datetime) -> Iterator[Metric]:
    yield counted_by(
        "failover_intake_deliveries",
        f"Webhook deliveries by outcome, received in the last {WINDOW.days} days",
        "outcome",
        Delivery.objects.filter(received_at__gte=now - WINDOW),
        "status",
    )


def readiness(now: datetime) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "failover_readiness_results",
        "Readiness check results by kind and outcome (ok, failed, not_reported: the check "
        f"never reported by its deadline), checked in the last {WINDOW.days} days",
        labels=["kind", "outcome"],
    )
    recent = ReadinessCheck.objects.filter(checked_at__gte=now - WINDOW).order_by()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for kind, ok, count in recent.values_list("kind", "ok").annotate(n=Count("pk")):
        counts[(kind, "ok" if ok else "failed")] += count
    silent = recent.filter(details__not_reported=True).values_list("kind").annotate(n=Count("pk"))
    for kind, count in silent:
        counts[(kind, "failed")] -= count
        counts[(kind, "not_reported")] += count
    for (kind, outcome), count in sorted(counts.items()):
        family.add_metric([kind, outcome], count)
    yield family


def notifications(now: datetime) -> Iterator[Metric]:
    # The (status, next_attempt_at) index answers both; sent ones are not counted.
    family = CounterMetricFamily(
        "failover_notifications_failed",
        "Notifications given up on after their retries",
    )
    family.add_metric([], Notification.objects.filter(status=Notification.Status.FAILED).count())
    yield family


def audit(now: datetime) -> Iterator[Metric]:
    head = ChainHead.objects.values_list("seq", flat=True).first() or 0
    yield CounterMetricFamily("failover_audit_events", "Events in the audit chain", value=head)
    last = (
        Verification.objects.filter(state__in=(Verification.State.DONE, Verification.State.FAILED))
        .order_by("-pk")
        .values_list("finished_at", "state", "ok")
        .first()
    )
    finished = GaugeMetricFamily(
        "failover_audit_last_verification_timestamp_seconds",
        "When the last verification of the audit chain finished (0: never)",
    )
    ok = GaugeMetricFamily(
        "failover_audit_last_verification_ok",
        "1 when the last verification found the chain and checkpoints intact, 0 when it found "
        "a break or the job failed, -1 when none has run",
    )
    if last is None:
        finished.add_metric([], 0)
        ok.add_metric([], -1)
    else:
        at, state, verdict = last
        finished.add_metric([], at.timestamp() if at else 0)
        ok.add_metric([], 1 if state == Verification.State.DONE and verdict else 0)
    yield finished
    yield ok
    # Each checkpoint verifies the events since the previous one (audit/checkpoints.py): events
    # past the last checkpoint for long mean checkpoints fail (a store, a key, a broken chain).
    checkpoint = Checkpoint.objects.order_by("-seq").values_list("seq", "signed_at").first()
    seq, signed_at = checkpoint or (0, None)
    yield GaugeMetricFamily(
        "failover_audit_last_checkpoint_seq",
        "The audit event the newest signed checkpoint covers, verified up to (0: none)",
        value=seq,
    )
    yield GaugeMetricFamily(
        "failover_audit_last_checkpoint_timestamp_seconds",
        "When the newest signed checkpoint of the audit chain was taken (0: never)",
        value=signed_at.timestamp() if signed_at else 0,
    )


def queues(now: datetime) -> Iterator[Metric]:
    """Messages in each routed queue: Redis LLEN or the filesystem transport's files, through
    kombu (a passive declare). With the broker down: `failover_broker_up` 0, no depths."""
    up = GaugeMetricFamily("failover_broker_up", "1 when the Celery broker answered the scrape")
    depth = GaugeMetricFamily(
        "failover_queue_messages", "Messages waiting in each Celery queue", labels=["queue"]
    )
    connection = celery_app.connection_for_read(connect_timeout=BROKER_TIMEOUT)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        channel = connection.default_channel
        for queue in QUEUES:
            try:
                _, count, _ = channel.queue_declare(queue=queue, passive=True)  # type: ignore[attr-defined]
            except connection.channel_errors:
                count = 0  # never declared: nothing was ever sent to it
            depth.add_metric([queue], count)
    except Exception as exc:  # whatever the transport raises, the broker did not answer
        logger.warning("metrics: broker unreachable (%s)", type(exc).__name__)
        up.add_metric([], 0)
        yield up
        return
    finally:
        connection.release()
    up.add_metric([], 1)
    yield up
    yield depth


def heartbeats(now: datetime) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "failover_heartbeat_age_seconds",
        "Seconds since each heartbeat (beat, each worker queue); +Inf when never seen",
        labels=["name"],
    )
    for name, age in sorted(heartbeat_ages(now).items()):
        family.add_metric([name], math.inf if age is None else age)
    yield family


PARTS: tuple[tuple[str, Callable[[datetime], Iterator[Metric]]], ...] = (
    ("requests", requests),
    ("durations", durations),
    ("decisions", decisions),
    ("dns_changes", dns_changes),
    ("rate_limits", rate_limits),
    ("waiting_work", waiting_work),
    ("deliveries", deliveries),
    ("readiness", readiness),
    ("notifications", notifications),
    ("audit", audit),
    ("queues", queues),
    ("heartbeats", heartbeats),
)
