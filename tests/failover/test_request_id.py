"""The request id: accepted from X-Request-ID when it is a plain token, else generated; answered
in X-Request-ID; on every log line of the request (with the actor, the failover request and the
client address); and carried into the tasks the request enqueued, through a real worker."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from failover.logcontext import ContextFilter
from failover.logformat import JsonFormatter
from failover.models import FailoverRequest
from tests.harness.worker import celery_worker, wait_for

pytestmark = pytest.mark.django_db

DECLARE = {
    "destination": "checkout/failover",
    "segment": "",
    "reason": "eu-west-1 is down",
    "incident_ref": "INC-7",
    "min_minutes_on_target": "30",
    "primary_healthy_minutes": "15",
    "decide_within_minutes": "240",
    "notes": "",
}


class Lines(logging.Handler):
    """The JSON lines the app would write, captured with the app's own filter and formatter."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def demo(db):
    from failover.demo.seed import seed_demo

    seed_demo()


@pytest.fixture
def lines():
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield handler
    root.setLevel(level)
    root.removeHandler(handler)


def test_an_id_is_made_when_none_is_sent(client):
    first = client.get("/login/")["X-Request-ID"]
    second = client.get("/login/")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_a_plain_incoming_id_is_kept_and_answered(client):
    for sent in ("abc", "req-7.A_b", "x" * 64):
        assert client.get("/login/", headers={"X-Request-ID": sent})["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "garbage",
    ["", "x" * 65, "a b", 'a"b', "a\nb", "a,b", "<script>", "é", "a;b=c"],
)
def test_garbage_is_replaced_never_echoed(client, garbage):
    answered = client.get("/login/", headers={"X-Request-ID": garbage})["X-Request-ID"]
    assert answered != garbage and re.fullmatch(r"[0-9a-f]{32}", answered)


def test_refusals_by_later_middleware_carry_the_id_too(client):
    response = client.get("/login/?q=%00", headers={"X-Request-ID": "nul-1"})
    assert response.status_code == 400 and response["X-Request-ID"] == "nul-1"


def test_log_lines_of_a_request_carry_its_id_actor_failover_request_and_client(
    client, demo, lines, settings
):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="ic"))
    response = client.post("/declare/", DECLARE, headers={"X-Request-ID": "decl-1"})
    request = FailoverRequest.objects.get()
    assert response.status_code == 302
    logging.getLogger("tests.probe").info("outside any request")
    # A page of no such request: Django logs the 404 (django.request) inside the request.
    missing = request.pk + 1000
    client.get(f"/requests/{missing}/", headers={"X-Request-ID": "page-1"})
    [record] = [r for r in lines.parsed() if r["request_id"] == "page-1"]
    assert record["logger"] == "django.request" and record["level"] == "WARNING"
    assert record["actor"] == "ic"
    assert record["failover_request_id"] == str(missing)
    assert record["client"] == "127.0.0.1"
    outside = [r for r in lines.parsed() if r["message"] == "outside any request"]
    assert outside[0]["request_id"] == "" and outside[0]["actor"] == ""


def test_an_api_caller_signed_in_by_token_is_the_actor(client, people, lines):
    """DRF authenticates the token inside the view and sets the user on the request: lines
    written after that name it, with no lookup of our own."""
    from tests.tokens import personal_token

    _, secret = personal_token(people["avail"], actions=["read"])
    response = client.get(
        "/api/v1/failover-requests/424242/",
        headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "api-1"},
    )
    assert response.status_code == 404
    [record] = [r for r in lines.parsed() if r["request_id"] == "api-1"]
    assert (record["actor"], record["failover_request_id"]) == ("avail", "424242")


def test_logging_never_loads_the_user_itself(rf, people):
    """A user not yet loaded (the session's lazy user) is not loaded for a log line."""
    from django.utils.functional import SimpleLazyObject, empty

    from failover.logcontext import LogContext, bound

    loads = []
    request = rf.get("/")
    request.user = SimpleLazyObject(lambda: loads.append(1) or people["avail"])
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
    with bound(LogContext(request_id="r", request=request)):
        ContextFilter().filter(record)
        assert record.actor == "" and not loads and request.user._wrapped is empty
        assert request.user.is_authenticated  # now something else has loaded it
        ContextFilter().filter(record)
    assert record.actor == "avail" and loads == [1]


def worker_lines(log: Path) -> list[dict]:
    """The worker's JSON lines (the start-up banner Celery prints before logging is set up is
    the only text that is not one)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.mark.django_db(transaction=True)
def test_the_id_follows_the_request_into_a_real_worker(client, demo, tmp_path, zone_dir):
    """Declaring enqueues the readiness checks on commit (still inside the request); the
    worker's lines for that task carry the web request's id and actor. From a request's own
    page, the failover request id rides along too."""
    from django.contrib.auth import get_user_model

    readiness = "approvals.readiness.tasks.run_readiness"
    queues = "critical,celery,intake,readiness"  # readiness checks have a queue of their own
    with celery_worker(tmp_path, zone_dir, queues=queues, LOG_FORMAT="json") as worker:

        def finished(request_id: str) -> list[dict]:
            found = [
                r
                for r in worker_lines(worker.log)
                if r.get("task") == readiness and r["request_id"] == request_id
            ]
            return found if any(" succeeded in " in r["message"] for r in found) else []

        client.force_login(get_user_model().objects.get(username="ic"))
        response = client.post("/declare/", DECLARE, headers={"X-Request-ID": "abc"})
        assert response.status_code == 302 and response["X-Request-ID"] == "abc"
        request = FailoverRequest.objects.get()
        declared = wait_for(lambda: finished("abc"), what="the readiness task's lines")

        response = client.post(
            f"/requests/{request.pk}/", {"kind": "recheck"}, headers={"X-Request-ID": "again-2"}
        )
        assert response.status_code in (200, 302)
        rechecked = wait_for(lambda: finished("again-2"), what="the re-check's lines")
    for record in declared:
        assert (record["actor"], record["failover_request_id"]) == ("ic", "")
        assert record["task_id"]
    for record in rechecked:
        assert (record["actor"], record["failover_request_id"]) == ("ic", str(request.pk))
    # Lines of the worker itself, outside any task, have the fields, empty.
    [ready] = [r for r in worker_lines(worker.log) if r["message"].endswith(" ready.")]
    assert ready["request_id"] == "" and "task" not in ready
