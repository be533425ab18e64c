"""The CPU time the servers spend, read from /proc: gunicorn (its master and workers),
PostgreSQL (the postmaster and every backend) and Redis.

Requests per second on a shared 2-core machine move 2x from run to run with the neighbours'
load, and so do the baselines measured beside them. CPU time per request moves far less: a
process stalled by a neighbour is not charged for the wait. With the machine's cores busy
(wrk's closed loop keeps them so), capacity is cores / CPU per request, so the ratio of two
endpoints' CPU per request is the ratio of their capacities, without the noise.

A process's counters include what its reaped children spent (cutime, cstime), so a backend
that exits during a run is still counted, once: by itself before, by its parent after.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
SERVERS = ("postgres", "redis-server")


def _processes() -> dict[int, tuple[int, str, int, int]]:
    """pid -> (parent pid, name, own ticks, reaped children's ticks)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, ..., utime (14th field of the line), stime, cutime, cstime.
        own = int(fields[11]) + int(fields[12])
        reaped = int(fields[13]) + int(fields[14])
        found[int(entry.name)] = (int(fields[1]), name, own, reaped)
    return found


def seconds(*roots: int) -> dict[str, float]:
    """CPU seconds spent so far by the process trees of `roots` and of every server in
    SERVERS (found by name: the topmost of each), by the name of the tree's top."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    tops = set(roots) & table.keys()
    for pid, (parent, name, _, _) in table.items():
        if name in SERVERS and table.get(parent, (0, ""))[1] != name:
            tops.add(pid)

    def tree(pid: int) -> int:
        _, _, own, reaped = table[pid]
        return own + reaped + sum(tree(child) for child in children.get(pid, ()))

    spent: dict[str, float] = {}
    for pid in tops:
        name = table[pid][1]
        spent[name] = spent.get(name, 0.0) + tree(pid) / TICK
    return spent


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
