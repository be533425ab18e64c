"""Heartbeats recorded by hand, for tests that run no beat: as a worker on the web's cache
would record them (failover/heartbeat.py), so that /readyz speaks of what a test stops."""

from __future__ import annotations

import environ
from django.test import override_settings

from failover import heartbeat


def fresh_heartbeats(cache_url: str) -> None:
    """Beat's and every routed queue's heartbeat recorded now, each queue's as a worker on
    the cache at `cache_url` records it."""
    with override_settings(CACHES={"default": environ.Env.cache_url_config(cache_url)}):
        heartbeat.record(heartbeat.BEAT)
        for name in heartbeat.expected():
            if name != heartbeat.BEAT:
                heartbeat.record_queue(name.removeprefix("queue:"))
