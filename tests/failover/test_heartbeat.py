"""Heartbeats and the dead-man switch: beat's scheduler records "beat", a real worker taking a
queue's heartbeat task records "queue:<name>", `check_heartbeat` turns them into exit codes,
and HEARTBEAT_URL is pinged only while nothing is stale."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from failover import heartbeat
from failover.beat import HeartbeatScheduler
from failover.celery import app
from failover.models import Heartbeat
from tests.harness.beat import Beat
from tests.harness.broker import Broker
from tests.harness.ports import free_port
from tests.harness.worker import ROOT, Worker, wait_for
from tests.readiness import garbage
from tests.readiness.garbage import RawServer

QUEUES = ["queue:celery", "queue:critical", "queue:intake", "queue:readiness"]
LONG_AGO = timedelta(seconds=1000)


def ago(delta: timedelta):
    return timezone.now() - delta


def fresh_all() -> None:
    for name in heartbeat.expected():
        heartbeat.record(name)


# --- freshness rules ----------------------------------------------------------------------


@pytest.mark.django_db
def test_ages_and_stale_cover_beat_and_every_routed_queue(settings):
    assert heartbeat.expected() == ["beat", *QUEUES]
    assert heartbeat.ages() == dict.fromkeys(["beat", *QUEUES])
    assert heartbeat.stale() == ["beat", *QUEUES]

    now = timezone.now()
    fresh_all()
    heartbeat.record("queue:intake", now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS + 1))
    ages = heartbeat.ages(now)
    assert ages["beat"] is not None and ages["beat"] < 5
    assert ages["queue:intake"] == settings.HEARTBEAT_STALE_SECONDS + 1
    assert heartbeat.stale(now) == ["queue:intake"]
    # Exactly the limit is still fresh; a recorder's clock ahead of ours gives age 0, not < 0.
    heartbeat.record("queue:intake", now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS))
    heartbeat.record("beat", now + timedelta(seconds=2))
    assert heartbeat.stale(now) == []
    assert heartbeat.ages(now)["beat"] == 0.0


def test_the_stale_limit_cannot_be_under_the_interval():
    env = {"HEARTBEAT_INTERVAL_SECONDS": "60", "HEARTBEAT_STALE_SECONDS": "30", "DEBUG": "1"}
    code = "import failover.settings"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base_env(), **env}, capture_output=True
    )
    assert run.returncode == 1
    assert b"HEARTBEAT_STALE_SECONDS" in run.stderr


# --- beat ---------------------------------------------------------------------------------


def test_beat_uses_the_heartbeat_scheduler_by_default():
    assert app.conf.beat_scheduler == "failover.beat.HeartbeatScheduler"


@pytest.mark.django_db(transaction=True)  # beat closes stale connections: no test transaction
def test_the_scheduler_records_beat_at_most_every_few_seconds(tmp_path, settings):
    scheduler = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    try:
        assert scheduler.tick() <= 5  # wakes at least this often, so it records this often
        first = Heartbeat.objects.get(name="beat").at
        scheduler.tick()
        assert Heartbeat.objects.get(name="beat").at == first  # not on every tick
        scheduler.recorded_at -= 5  # five seconds later
        scheduler.tick()
        assert Heartbeat.objects.get(name="beat").at > first
    finally:
        scheduler.close()


def test_every_routed_queue_gets_a_heartbeat_task_from_beat(settings):
    entries = {
        entry["options"]["queue"]: entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "failover.tasks.heartbeat"
    }
    assert sorted(entries) == ["celery", "critical", "intake", "readiness"]
    for queue, entry in entries.items():
        assert entry["args"] == [queue]
        assert entry["options"]["expires"] == settings.HEARTBEAT_INTERVAL_SECONDS


@pytest.mark.django_db(transaction=True)
def test_real_beat_and_workers_keep_heartbeats_and_the_dead_man_switch(
    tmp_path, zone_dir, settings
):
    """A real beat and a real worker for every queue but readiness: no ping (readiness is
    stale); a readiness worker comes: pings; it goes: pings stop; beat dies: beat is stale."""
    settings.HEARTBEAT_STALE_SECONDS = 3
    env = {"HEARTBEAT_INTERVAL_SECONDS": "1", "HEARTBEAT_STALE_SECONDS": "3"}
    broker = Broker(tmp_path / "broker").start()
    undo = broker.use_in_this_process()
    with RawServer(garbage.ok) as monitor:
        env["HEARTBEAT_URL"] = monitor.url("/ping/0b1c2d3e")
        worker = Worker(broker, tmp_path, zone_dir, "celery,critical,intake", **env).start()
        beat = Beat(broker, tmp_path, zone_dir, **env).start()
        readiness = Worker(broker, tmp_path, zone_dir, "readiness", **env)
        try:
            wait_for(lambda: heartbeat.stale() == ["queue:readiness"], what="three queues + beat")
            pings = pinged(monitor)
            assert pings == 0
            wait_for(lambda: "not pinging, stale: queue:readiness" in worker.log.read_text())

            readiness.start()
            wait_for(lambda: heartbeat.stale() == [], what="the readiness queue's heartbeat")
            wait_for(lambda: pinged(monitor) >= 2, what="the dead-man switch's pings")
            assert all(head.startswith(b"GET /ping/0b1c2d3e ") for head in monitor.received)

            readiness.stop()
            wait_for(lambda: heartbeat.stale() == ["queue:readiness"], what="readiness stale")
            pings = pinged(monitor)
            wait_for(lambda: worker.log.read_text().count("not pinging") >= 3, what="withheld")
            assert pinged(monitor) == pings  # beat still sends the task: the worker withholds

            beat.kill()
            wait_for(lambda: "beat" in heartbeat.stale(), timeout=10, what="beat stale")
            assert heartbeat.ages()["beat"] > 3
        finally:
            beat.stop()
            readiness.stop()
            worker.stop()
            undo()
            broker.stop()


def pinged(monitor: RawServer) -> int:
    return sum(head.startswith(b"GET ") for head in monitor.received)


# --- check_heartbeat ----------------------------------------------------------------------


def base_env() -> dict[str, str]:
    return Worker(SimpleNamespace(env={}), ROOT / "var", ROOT / "var").env


def check(*names: str, **env: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "manage.py", "check_heartbeat", *names]
    return subprocess.run(
        argv, cwd=ROOT, env={**base_env(), **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.django_db(transaction=True)
def test_check_heartbeat_exit_codes():
    never = check("beat")
    assert never.returncode == 1
    assert never.stderr.strip().splitlines() == [
        "CommandError: stale (over 90 s): beat never recorded"
    ]

    heartbeat.record("beat")
    heartbeat.record("queue:critical")
    assert check("beat").returncode == 0
    assert check("beat", "queue:critical").returncode == 0

    heartbeat.record("queue:critical", ago(LONG_AGO))
    late = check("beat", "queue:critical")
    assert late.returncode == 1
    assert re.fullmatch(
        r"CommandError: stale \(over 90 s\): queue:critical 10\d\d s old", late.stderr.strip()
    )

    closed = f"postgres://failover@127.0.0.1:{free_port()}/failover"
    down = check("beat", DATABASE_URL=closed)
    assert down.returncode == 1
    assert down.stderr.strip() == "CommandError: the database does not answer: OperationalError"


# --- the dead-man switch ------------------------------------------------------------------


@pytest.fixture
def monitor(settings):
    with RawServer(garbage.ok) as server:
        settings.HEARTBEAT_URL = server.url("/ping/5f1e")
        yield server


@pytest.mark.django_db
def test_the_switch_pings_while_everything_is_fresh(monitor, settings):
    settings.HEARTBEAT_AUTHORIZATION = "GenieKey k-123"
    fresh_all()
    assert heartbeat.dead_man_switch() == "pinged"
    [head] = monitor.received
    assert head.startswith(b"GET /ping/5f1e HTTP/1.1\r\n")
    assert b"\r\nAuthorization: GenieKey k-123\r\n" in head


@pytest.mark.django_db
@pytest.mark.parametrize("late", ["beat", "queue:readiness"])
def test_the_switch_withholds_the_ping_while_anything_is_stale(monitor, late, caplog):
    fresh_all()
    heartbeat.record(late, ago(LONG_AGO))
    with caplog.at_level(logging.WARNING, logger="failover.heartbeat"):
        assert heartbeat.dead_man_switch() == "withheld"
    assert monitor.connections == 0
    assert f"not pinging, stale: {late}" in caplog.text


@pytest.mark.django_db
def test_the_switch_pings_the_fail_url_while_stale(monitor, settings):
    with RawServer(garbage.ok) as fail:
        settings.HEARTBEAT_FAIL_URL = fail.url("/ping/5f1e/fail")
        assert heartbeat.dead_man_switch() == "withheld"  # nothing recorded yet
        assert monitor.connections == 0
        [head] = fail.received
        assert head.startswith(b"GET /ping/5f1e/fail ")


def test_the_switch_is_off_without_a_url(settings):
    settings.HEARTBEAT_URL = ""
    assert heartbeat.dead_man_switch() == "off"  # and touches nothing: no database here


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer,reason",
    [
        (garbage.http(500, b"oops"), "answered HTTP 500"),
        (garbage.http(301, b"", headers=b"Location: http://x/\r\n"), "answered HTTP 301"),
        (garbage.banner, "failed: BadStatusLine"),
        (garbage.close_at_once, "failed: "),  # reset or disconnected: a race
    ],
)
def test_a_failing_endpoint_never_raises(settings, caplog, answer, reason):
    fresh_all()
    with RawServer(answer) as broken:
        settings.HEARTBEAT_URL = broken.url("/ping/secret-uuid")
        with caplog.at_level(logging.WARNING, logger="failover.heartbeat"):
            assert heartbeat.dead_man_switch() == "ping failed"
    assert f"the ping to 127.0.0.1 {reason}" in caplog.text
    assert "secret-uuid" not in caplog.text


@pytest.mark.django_db
def test_a_hanging_or_closed_or_refused_endpoint_never_raises(settings, caplog):
    fresh_all()
    with caplog.at_level(logging.WARNING, logger="failover.heartbeat"):
        with RawServer(garbage.hang) as hung:
            settings.HEARTBEAT_URL = hung.url("/ping/secret-uuid")
            assert heartbeat.dead_man_switch() == "ping failed"
        settings.HEARTBEAT_URL = f"http://127.0.0.1:{free_port()}/ping/secret-uuid"
        assert heartbeat.dead_man_switch() == "ping failed"
        settings.OUTBOUND_ALLOW_NETWORKS = []  # production's guard: loopback refused
        assert heartbeat.dead_man_switch() == "ping failed"
        settings.HEARTBEAT_URL = "ftp://monitor.example/secret-uuid"
        assert heartbeat.dead_man_switch() == "ping failed"
    assert "failed: TimeoutError" in caplog.text
    assert "failed: ConnectionRefusedError" in caplog.text
    assert "failed: Refused: refused to connect to 127.0.0.1" in caplog.text
    assert "the ping to monitor.example failed: ValueError" in caplog.text
    assert "secret-uuid" not in caplog.text
