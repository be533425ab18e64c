"""bench/poll_load.py's baseline: the benchmarks' settings with the live fragments' memo off
(failover/web/live.py `shortcut_on`), so every poll builds its fragment and compares versions,
as every poll did before the memo. Never used by the product."""

from bench.settings import *  # noqa: F403

LIVE_POLL_SHORTCUT = False
