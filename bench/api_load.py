"""Benchmark: the REST API under load, against a bare DRF endpoint on the same gunicorn.

    .venv/bin/python bench/api_load.py [--seconds 8] [--connections 6] [--workers 3]

gunicorn (sync workers, as the Dockerfile runs it) with the production settings on a
PostgreSQL database of the benchmark's own; wrk, in another process on loopback, drives:
  reads   GET /api/v1/failover-requests/{id}/ over 200 pending requests, bearer token;
  writes  POST /api/v1/failover-requests/{id}/decisions/: a veto, later its lift, on each
          request in turn. Both really change state (a decision row, an audit event, the
          request blocked or unblocked) and can be repeated without end, which approvals
          cannot (a request is approved once) and which keeps the request open;
  bare    the same shapes on bare DRF: GET /bench/requests/{id}/ (a generic RetrieveAPIView,
          a ModelSerializer of the row's fields) and POST /bench/requests/{id}/decisions/ (the
          same veto / lift bodies validated by a plain serializer, one INSERT);
  floor   GET /bench/constant/ (an APIView returning a constant) and POST /bench/insert/
          (one raw INSERT).
The baselines are routed only by the benchmarks' URLconf (bench/urls.py) with
BENCH_BASELINE=1, through the same middleware,
bearer-token authentication and throttling. Prints requests/s and p50/p99 of each and the
product/bare ratios (targets: reads >= 0.5, writes >= 0.3; the ratios to the floors too),
and appends a row to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse

from common import ms, record, stack, wrk

DETAIL = "/api/v1/failover-requests/%s/"
DECIDE = "/api/v1/failover-requests/%s/decisions/"
BARE_DETAIL = "/bench/requests/%s/"
BARE_DECIDE = "/bench/requests/%s/decisions/"


def seed(count: int) -> tuple[list[int], str]:
    """`count` pending requests on services held by one team -> (ids, the vetoer's token)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from approvals.tokens import MINT_ACT, create_token, max_lifetime, mint_target
    from bench.baseline import TABLE
    from failover.demo.scale import analyze, member, seed_requests, seed_services
    from failover.models import FailoverRequest
    from identity.stepup import Binding, confirm

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, at timestamptz)")
    services = seed_services(count, prefix="api", team_size=count)
    seed_requests(count, services, prefix="api", team_size=count, pending_every=1)
    analyze()
    ids = list(FailoverRequest.objects.filter(state="pending").values_list("pk", flat=True))
    vetoer = get_user_model().objects.get(username=member("api", 0, "vetoer"))
    # A token that vetoes is personal: minted by its person after a step-up (a password here).
    vetoer.set_password("bench-only")
    vetoer.save(update_fields=["password"])
    proof = confirm(vetoer, Binding(MINT_ACT, mint_target(vetoer)), {"password": "bench-only"})
    _, token = create_token(
        user=vetoer,
        created_by=vetoer,
        name="bench",
        step_up=proof,
        expires_at=timezone.now() + max_lifetime(),
    )
    return ids, token


def line(label: str, run: dict) -> str:
    return (
        f"  {label:34}: {run['rps']:7.0f} req/s   p50 {ms(run['p50']):>9}   "
        f"p99 {ms(run['p99']):>9}   non-2xx {run['non2xx']}, errors {run['errors']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="pending requests to cycle")
    args = parser.parse_args()
    with stack("api", BENCH_BASELINE="1") as (workdir, env, processes):
        ids, token = seed(args.requests)
        url = processes.gunicorn(env, workers=args.workers)
        runs = {}

        def run(name, method, path, mode="plain", seconds=args.seconds):
            runs[name] = wrk(
                url,
                method=method,
                path=path,
                token=token,
                ids=ids if "%s" in path else (),
                mode=mode,
                seconds=seconds,
                connections=args.connections,
            )

        for name, method, path, mode in (
            ("warm", "GET", DETAIL, "plain"),
            ("warm", "GET", BARE_DETAIL, "plain"),
            ("warm", "GET", "/bench/constant/", "plain"),
            ("warm", "POST", "/bench/insert/", "plain"),
        ):
            run(name, method, path, mode, seconds=1)
        run("writes", "POST", DECIDE, "vetolift")  # first, so the reads show decisions
        run("bare_writes", "POST", BARE_DECIDE, "vetolift")
        run("floor_writes", "POST", "/bench/insert/")
        run("reads", "GET", DETAIL)
        run("bare_reads", "GET", BARE_DETAIL)
        run("floor_reads", "GET", "/bench/constant/")
        from approvals.models import Decision

        decisions = Decision.objects.count()

    ratio = {k: runs[k]["rps"] / runs[f"bare_{k}"]["rps"] for k in ("reads", "writes")}
    floor = {k: runs[k]["rps"] / runs[f"floor_{k}"]["rps"] for k in ("reads", "writes")}
    print(
        f"API under load: gunicorn {args.workers} sync workers, PostgreSQL, wrk 1 thread "
        f"x {args.connections} connections, {args.seconds:g} s per run, {len(ids)} requests"
    )
    print(line("GET request detail", runs["reads"]))
    print(line("GET bare DRF retrieve (same row)", runs["bare_reads"]))
    print(line("GET floor (constant)", runs["floor_reads"]))
    print(line("POST decision (veto / lift)", runs["writes"]))
    print(line("POST bare DRF (same body, 1 insert)", runs["bare_writes"]))
    print(line("POST floor (one raw insert)", runs["floor_writes"]))
    for kind, target in (("reads", 0.5), ("writes", 0.3)):
        print(
            f"  {kind:6} / bare DRF: {ratio[kind]:.2f} (target >= {target}); "
            f"/ floor {floor[kind]:.2f}"
        )
    print(f"  decisions written: {decisions} (every 2xx decision POST, warm-up included)")
    failed = sum(runs[k]["non2xx"] + runs[k]["errors"] for k in runs)
    if failed:
        print(f"  WARNING: {failed} requests failed or were refused; see {workdir}")
    r, w, br, bw = (runs[k] for k in ("reads", "writes", "bare_reads", "bare_writes"))
    record(
        "API under load",
        result=f"reads {r['rps']:.0f}/s p50 {ms(r['p50'])} p99 {ms(r['p99'])}; "
        f"writes {w['rps']:.0f}/s p50 {ms(w['p50'])} p99 {ms(w['p99'])}",
        baseline=f"bare DRF GET {br['rps']:.0f}/s, POST {bw['rps']:.0f}/s: ratios reads "
        f"{ratio['reads']:.2f}, writes {ratio['writes']:.2f} (floors constant "
        f"{runs['floor_reads']['rps']:.0f}/s, insert {runs['floor_writes']['rps']:.0f}/s: "
        f"{floor['reads']:.2f}, {floor['writes']:.2f})",
        target="reads >= 0.5, writes >= 0.3 of bare DRF",
        met=ratio["reads"] >= 0.5 and ratio["writes"] >= 0.3 and not failed,
        database="PostgreSQL",
    )


if __name__ == "__main__":
    main()
