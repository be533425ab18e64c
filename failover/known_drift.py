"""Registry drift remembered per process under the registry's contents as a fingerprint read
them (approvals/fingerprints.registry_key): a request's drift moves only with its plan and its
service's registry, so a write's answer and a remembered read need not read the registry
again while neither moved (two queries and the plan rebuilt, every time, otherwise).

Like every memo under a fingerprint, the key is read before the value is computed: a registry
edit landing in between leaves the value under a key no later read matches.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from failover.drift import CHECKED_STATES, registry_drift
from failover.models import FailoverRequest

KEPT = 2048
_memo: OrderedDict[tuple, tuple[str, ...]] = OrderedDict()
_lock = Lock()


def drift_known(request: FailoverRequest, registry: str) -> list[str]:
    """`registry_drift(request)`, computed once per plan and registry contents."""
    if request.state not in CHECKED_STATES:
        return []
    key = (request.pk, request.plan_hash, request.segment, registry)
    with _lock:
        found = _memo.get(key)
        if found is not None:
            _memo.move_to_end(key)
            return list(found)
    found = tuple(registry_drift(request))
    with _lock:
        _memo[key] = found
        while len(_memo) > KEPT:
            _memo.popitem(last=False)
    return list(found)
