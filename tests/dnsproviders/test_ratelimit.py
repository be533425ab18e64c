"""The shared token bucket keeps every worker together under the account's rate."""

import threading
import time

import pytest
from django.db import connection

from dnsproviders.ratelimit import acquire, take


@pytest.mark.django_db
def test_burst_then_rate():
    assert all(take("acct", rate=10, burst=3) == 0 for _ in range(3))
    wait = take("acct", rate=10, burst=3)
    assert 0 < wait <= 0.1


@pytest.mark.django_db(transaction=True)
def test_threads_share_one_bucket():
    # 4 threads x 5 tokens at 20/s with a burst of 5: the last 15 tokens need >= 0.75 s.
    started = time.monotonic()

    def worker():
        try:
            for _ in range(5):
                acquire("shared", rate=20, burst=5, timeout=10)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 0.7  # a lower bound: the limiter can only slow down


@pytest.mark.django_db
def test_acquire_gives_up_after_its_timeout():
    take("tiny", rate=0.01, burst=1)
    with pytest.raises(TimeoutError):
        acquire("tiny", rate=0.01, burst=1, timeout=0.5)


@pytest.mark.django_db(transaction=True)
def test_contending_takers_never_get_more_than_the_rate_allows():
    # Compare-and-set must not hand the same token to two takers: 6 threads take as fast as
    # they can for 1 s at 50/s with a burst of 10; at most 10 + 50 x elapsed are granted.
    granted = []
    started = time.monotonic()

    def worker():
        try:
            while time.monotonic() - started < 1.0:
                if take("contended", rate=50, burst=10) == 0:
                    granted.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert 10 <= len(granted) <= 10 + 50 * elapsed + 1


@pytest.mark.django_db
def test_an_uncontended_token_is_one_update():
    from django.test.utils import CaptureQueriesContext

    take("solo", rate=10, burst=5)
    with CaptureQueriesContext(connection) as queries:
        assert take("solo", rate=10, burst=5) == 0
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]


@pytest.mark.django_db
def test_a_token_another_process_took_is_not_handed_out_again():
    from dnsproviders.models import RateBucket

    assert take("pair", rate=0.001, burst=2) == 0  # this process last wrote: 1 left
    RateBucket.objects.filter(key="pair").update(tokens=0.0)  # another process took it
    assert take("pair", rate=0.001, burst=2) > 0
