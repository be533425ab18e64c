"""A real Prometheus Alertmanager (Debian's package) sends its webhooks to the live server;
a real Celery worker processes them: a firing alert becomes a signal and, past the
threshold, a pre-approved failover request; resolving it resolves the signal."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from failover.intake.models import Delivery
from failover.models import FailoverRequest, Signal
from tests.factories import make_service
from tests.harness.ports import free_port
from tests.harness.worker import Worker, wait_for
from tests.intake.conftest import let_declare, make_integration

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not shutil.which(ALERTMANAGER),
        reason="needs prometheus-alertmanager: apt-get install prometheus-alertmanager",
    ),
]

CONFIG = """
route:
  receiver: failover
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: failover
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            credentials: {secret}
"""


class Alertmanager:
    def __init__(self, workdir, url: str, secret: str):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "alertmanager.yml").write_text(CONFIG.format(url=url, secret=secret))
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v2"
        self.log = self.dir / "alertmanager.log"
        self.process = None

    def start(self) -> Alertmanager:
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [
                    ALERTMANAGER,
                    f"--config.file={self.dir / 'alertmanager.yml'}",
                    f"--storage.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",  # no clustering: no *:9094, no gossip wait
                    "--log.level=debug",
                ],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=20, what="alertmanager to be ready")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("alertmanager exited: " + self.log.read_text()[-2000:])
        try:
            with urllib.request.urlopen(f"{self.api}/status", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def post_alerts(self, alerts: list[dict]) -> None:
        request = urllib.request.Request(
            f"{self.api}/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def worker(broker, tmp_path, zone_dir):
    worker = Worker(broker, tmp_path, zone_dir).start()
    yield worker
    worker.stop()


@pytest.fixture
def service(db):
    service = make_service(
        "shop",
        mode="preapproved_thresholds",
        auth_change=False,
        thresholds=(("error_rate", "gte", 5.0),),
    )
    let_declare(service)
    return service


@pytest.fixture
def alertmanager(live_server, tmp_path, service):
    _, secret = make_integration("alertmanager", "prom")
    url = live_server.url + "/api/v1/integrations/alertmanager/"
    manager = Alertmanager(tmp_path / "alertmanager", url, secret).start()
    yield manager
    manager.stop()


LABELS = {"alertname": "ShopErrorRate", "service": "shop", "metric": "error_rate"}


def now(delta: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta)).isoformat().replace("+00:00", "Z")


def test_a_real_alertmanager_fires_and_resolves_through_a_real_worker(
    worker, alertmanager, service
):
    alertmanager.post_alerts(
        [{"labels": LABELS, "annotations": {"value": "12.5"}, "startsAt": now()}]
    )
    signal = wait_for(
        lambda: Signal.objects.filter(service=service, status="firing").first(),
        timeout=15,
        what="a firing signal",
    )
    assert (signal.metric, signal.value, signal.source) == ("error_rate", 12.5, "alertmanager")
    request = wait_for(
        lambda: FailoverRequest.objects.filter(origin_signal=signal).first(),
        timeout=15,
        what="a pre-approved failover request",
    )
    assert request.state == "pending" and request.requester.username == "pager-bot"
    delivery = Delivery.objects.order_by("pk").first()
    assert delivery.headers.get("User-Agent", "").startswith("Alertmanager")
    assert "Authorization" not in delivery.headers

    started = time.monotonic()
    alertmanager.post_alerts([{"labels": LABELS, "endsAt": now(-1)}])
    wait_for(
        lambda: Signal.objects.get(pk=signal.pk).status == "resolved",
        timeout=15,
        what="the signal to be resolved",
    )
    assert time.monotonic() - started < 15
    assert Signal.objects.count() == 1
