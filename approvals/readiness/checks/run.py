"""Running the checkers in isolation: one checker's exception or hang is its own failed result.

Each checker runs in its own thread. Whatever it raises becomes that check's failed result
with the exception as evidence; one that has not answered when the run's budget is spent is
recorded as never reported. The others report either way. A thread still stuck in a socket
call is left to its own timeouts (the guard bounds every fetch); nobody waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait

from approvals.readiness.checks.base import CheckResult, crashed, not_reported


def _isolated(kind: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        result = check()
    except Exception as exc:  # whatever it was, it is this check's failure, not the run's
        return crashed(kind, exc)
    if not isinstance(result, CheckResult) or result.kind != kind:
        return crashed(kind, TypeError(f"the checker answered {type(result).__name__}"))
    return result


def run_isolated(
    checks: Mapping[str, Callable[[], CheckResult]], *, budget: float
) -> list[CheckResult]:
    """Run every check at once; a result per kind, in the order given, within `budget` s."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="readiness")
    try:
        futures = {kind: pool.submit(_isolated, kind, check) for kind, check in checks.items()}
        done, _ = wait(futures.values(), timeout=budget)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [
        future.result() if future in done else not_reported(kind, budget, "the start of its run")
        for kind, future in futures.items()
    ]
