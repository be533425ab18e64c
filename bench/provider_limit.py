"""Benchmark: many failovers at once through the rate-limited executor, against Route 53's limit.

    .venv/bin/python bench/provider_limit.py [--failovers 100] [--zones 10]

`failovers` approved requests spread over `zones` hosted zones of one AWS account are executed
at once; a Celery worker (prefork, 4 processes, production settings, PostgreSQL and a redis
broker of the benchmark's own) applies them through the shared token bucket
(ROUTE53_RATE_PER_SECOND, ROUTE53_BURST). Route 53 is moto's server behind a proxy that
enforces that same limit the way Route 53 does, answering `Throttling` past it (with two
requests of slack for network jitter). The floor is the least time the limit allows for the
Route 53 requests the product made: (requests - burst) / rate. Prints the total time against
the floor (target <= 1.2x), Route 53's Throttling answers (retried by the adapter) and the
throttling errors that reached a request (target 0), and appends a row to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
import uuid

from common import record, stack

from tests.harness import motoserver
from tests.harness.faultproxy import FaultProxy

THROTTLING = ("Throttling", "ThrottlingException")
JITTER_SLACK = 2.0


class LimitedRoute53(FaultProxy):
    """The fault proxy with one fault only: Throttling, whenever a token bucket of Route 53's
    configured limit is empty."""

    def __init__(self, host: str, port: int, *, rate: float, burst: float):
        super().__init__(host, port)
        self.rate, self.capacity = rate, burst + JITTER_SLACK
        self.tokens, self.at = self.capacity, time.monotonic()

    def refill(self) -> None:
        with self.lock:
            self.tokens, self.at = self.capacity, time.monotonic()

    def _pick_fault(self) -> str | None:
        with self.lock:
            self.stats["requests"] += 1
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                self.stats["throttle"] += 1
                return "throttle"
            self.tokens -= 1
            return None


def seed(r53, proxy_url: str, failovers: int, zones: int) -> list[int]:
    """Approved requests over services in `zones` hosted zones, the live records as planned."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from approvals.services import record_decision
    from dnsproviders.models import ProviderAccount
    from failover.demo.scale import analyze, member, seed_requests, seed_services
    from failover.models import FailoverRequest, GovernedRecord

    call_command("migrate", verbosity=0)
    names = [f"z{n}-{uuid.uuid4().hex[:8]}.test." for n in range(zones)]
    zone_ids = {
        name: r53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))["HostedZone"][
            "Id"
        ]
        for name in names
    }
    account = ProviderAccount.objects.create(
        name="bench-route53",
        kind="route53",
        settings={"endpoint_url": proxy_url, "aws_account_id": "123456789012"},
    )
    services = seed_services(
        failovers, prefix="r53", team_size=failovers, account=account, zones=names
    )
    for governed in GovernedRecord.objects.filter(service__in=services):
        r53.change_resource_record_sets(
            HostedZoneId=zone_ids[governed.zone],
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": governed.name,
                            "Type": "A",
                            "TTL": 60,
                            "ResourceRecords": [{"Value": "198.51.100.1"}],
                        },
                    }
                ]
            },
        )
    seed_requests(failovers, services, prefix="r53", team_size=failovers, pending_every=1)
    analyze()
    people = {p: get_user_model().objects.get(username=member("r53", 0, p)) for p in PEOPLE}
    requests = list(FailoverRequest.objects.filter(state="pending"))
    for request in requests:
        for person, kind, role in DECISIONS:
            record_decision(
                actor=people[person],
                request_id=request.pk,
                kind=kind,
                role=role,
                plan_hash=request.plan_hash,
                channel="api",
            )
    return [r.pk for r in requests]


PEOPLE = ("avail", "identity", "ir", "executor")
# The seeded targets differ in identity provider and residency: incident response signs off.
DECISIONS = (
    ("avail", "approve", "availability"),
    ("identity", "approve", "identity"),
    ("ir", "sign_off", "incident_response"),
)


def execute_all(ids: list[int], timeout: float) -> tuple[float, dict]:
    """Execute every request; -> (seconds until the last one applied, states)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Max

    from approvals.execution import execute_request
    from failover.models import FailoverRequest

    executor = get_user_model().objects.get(username="r53-t0000-executor")
    started = time.time()
    for pk in ids:
        execute_request(actor=executor, request_id=pk, channel="api")
    requests = FailoverRequest.objects.filter(pk__in=ids)
    deadline = time.monotonic() + timeout
    while requests.filter(state="executing").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"not every failover finished within {timeout:.0f} s")
        time.sleep(0.5)
    states = dict(requests.values_list("state").annotate(n=Count("pk")))
    last = requests.aggregate(last=Max("applied_at"))["last"]
    return (last.timestamp() if last else time.time()) - started, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failovers", type=int, default=100)
    parser.add_argument("--zones", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
    args = parser.parse_args()
    aws = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    import boto3

    # The seeded targets are not real servers: no readiness veto.
    run = stack("r53", database="route53", READINESS_SYSTEM_VETO="false", **aws)
    with motoserver.running() as (host, port), run as (_, env, processes):
        from django.conf import settings

        rate, burst = settings.ROUTE53_RATE_PER_SECOND, settings.ROUTE53_BURST
        proxy = LimitedRoute53(host, port, rate=rate, burst=burst).start()
        r53 = boto3.client("route53", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        ids = seed(r53, proxy.url, args.failovers, args.zones)
        processes.celery_worker(env, queues="critical,celery", concurrency=args.concurrency)
        proxy.reset()
        proxy.refill()
        elapsed, states = execute_all(ids, timeout=60 + 20 * args.failovers)
        calls, throttled = proxy.stats["requests"], proxy.stats["throttle"]
        from django.db.models import Count

        from audit.models import AuditEvent
        from dnsproviders.models import DnsChange

        failed_calls = dict(
            AuditEvent.objects.filter(action="dns.provider_call", data__ok=False)
            .values_list("data__error_code")
            .annotate(n=Count("pk"))
        )
        reached = sum(failed_calls.get(code, 0) for code in THROTTLING)
        reached += DnsChange.objects.filter(error_code__in=THROTTLING).count()

    served = calls - throttled
    floor = max(0.0, served - burst) / rate
    ratio = elapsed / floor if floor else float("inf")
    applied = states.get("applied", 0)
    print(
        f"provider limit: {args.failovers} failovers over {args.zones} hosted zones, Route 53 "
        f"limit {rate:g}/s (burst {burst:g}), worker {args.concurrency} processes, PostgreSQL"
    )
    print(f"  requests applied        : {applied} of {len(ids)} (states {states})")
    print(f"  Route 53 requests       : {served} answered + {throttled} Throttling answers")
    print(f"  floor (requests-burst)/rate: {floor:6.1f} s   ({served / len(ids):.1f} per failover)")
    print(
        f"  total time              : {elapsed:6.1f} s   = {ratio:.2f}x the floor (target <= 1.2)"
    )
    print(f"  throttling errors that reached a request: {reached} (target 0)")
    print(f"  provider calls that failed (after the adapter's retries): {failed_calls or 'none'}")
    record(
        "Provider limit",
        result=f"{applied}/{len(ids)} failovers over {args.zones} zones in {elapsed:.1f} s; "
        f"{served} Route 53 requests, {throttled} Throttling answers, {reached} reached a "
        "request",
        baseline=f"floor {floor:.1f} s at {rate:g}/s (burst {burst:g}); ratio {ratio:.2f}",
        target="<= 1.2x floor, 0 throttling errors reached a request",
        met=ratio <= 1.2 and reached == 0 and applied == len(ids),
        database="PostgreSQL",
    )


if __name__ == "__main__":
    main()
