"""Every Celery queue a task is routed to has a worker, in docker-compose and in `make run`:
a queue nobody consumes loses its work silently (until the sweepers re-send it, to the same
queue)."""

import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def routed_queues() -> set[str]:
    return {"celery"} | {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}


def consumed(commands: list[str]) -> set[str]:
    found = set()
    for command in commands:
        if " worker " in f" {command} ":
            match = re.search(r"-Q\s+(\S+)", command)
            found |= set(match.group(1).split(",")) if match else {"celery"}
    return found


def test_docker_compose_runs_a_worker_for_every_queue():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = [s["command"] for s in services.values() if isinstance(s.get("command"), str)]
    assert routed_queues() <= consumed(commands)
    intake = services["intake-worker"]["command"]
    assert intake.startswith("nice -n 10 ") and "-Q intake " in intake


def test_make_run_runs_a_worker_for_every_queue():
    lines = (ROOT / "bin" / "run-local").read_text().splitlines()
    assert routed_queues() <= consumed([line for line in lines if "celery" in line])
