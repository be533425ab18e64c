"""Calls raced against each other in threads, each on its own database connection."""

from __future__ import annotations

import threading

from django.db import connection


def race(*calls, expected=(Exception,)):
    """Run the calls in threads released together; return what each returned or raised (an
    exception of `expected`)."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except expected as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results
