"""Querysets built and compiled once per process, run with new values.

Building and compiling a queryset costs the ORM about a millisecond of Python each time,
more than PostgreSQL takes to answer the small queries the hot paths ask (a decision asks a
dozen). A `Compiled` query is the SQL the ORM wrote for a queryset built with marker values
in place of the caller's, kept per shape: each run only puts the values where the markers
were. The ORM still writes the SQL, so a change to a model or to the rule that builds the
queryset changes what runs; only the repetition is saved.

A marker is an integer no row id reaches; it is recognised in the compiled parameters as
itself or as its text (the permission tables keep object ids as text). Building fails loudly
when a marker went missing or came out twice in an unexpected form, so a queryset the ORM
compiles differently (a value folded into the SQL, say) is refused, never run wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from functools import partial
from threading import Lock
from typing import Any, cast

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.transaction import TransactionManagementError

FIRST_MARK = 1_987_650_001  # within a 32-bit integer column's range, far above any id here
LARGEST_ID = 2**63 - 1  # a bigint: a caller checks an id it was handed against it


class Compiled:
    """The SQL of `build(*marks)` for one database, with where each mark's value goes."""

    def __init__(self, build: Callable[..., QuerySet], names: tuple[str, ...], exists: bool):
        marks = {FIRST_MARK + i: name for i, name in enumerate(names)}
        queryset = build(**{name: mark for mark, name in marks.items()})
        self.queryset, self.using = queryset, queryset.db
        query = queryset.query.exists() if exists else queryset.query
        self.compiler = query.get_compiler(self.using)
        self.sql, params = self.compiler.as_sql()
        # Per parameter: (the mark's name, int or str) where a value goes, (None, the value)
        # where the ORM put a constant of its own.
        self.slots: list[tuple[str | None, Any]] = []
        texts = {str(mark): name for mark, name in marks.items()}
        for value in params:
            if isinstance(value, int) and value in marks:
                self.slots.append((marks[value], int))
            elif isinstance(value, str) and value in texts:
                self.slots.append((texts[value], str))
            else:
                self.slots.append((None, value))
        found = {name for name, _ in self.slots if name is not None}
        if found != set(names):
            raise ValueError(f"markers {sorted(set(names) - found)} did not reach the SQL")

    def params(self, values: dict[str, Any]) -> list:
        return [as_(values[name]) if name is not None else as_ for name, as_ in self.slots]

    def rows(self, **values: Any) -> list[tuple]:
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params(values))
            return cursor.fetchall()

    def objects(self, **values: Any) -> list[Any]:
        """The queryset's model instances (with what it selects related) for these values:
        the ORM's own iteration over rows of the kept SQL."""
        connection = connections[self.using]
        if self.queryset.query.select_for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update outside of a transaction")
        sql, params = self.sql, self.params(values)
        compiler = copy.copy(self.compiler)  # what it learnt compiling: columns, models
        compiler.connection = connection  # this thread's
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        compiler.get_converters = partial(self._converters, compiler)
        query = cast(Any, _Run(self.queryset.query, compiler))
        return list(QuerySet(self.queryset.model, query=query, using=self.using))

    def _converters(self, compiler: Any, expressions: list) -> dict:
        # What turns each column's value into the field's, asked of every field on every run
        # by the ORM (a tenth of a decision's Python): the same for every run of this SQL on
        # one connection, so kept with the connection (its backend's converters are its own).
        kept = compiler.connection.__dict__.setdefault("_precompiled_converters", {})
        found = kept.get(self)
        if found is None:
            found = kept[self] = type(compiler).get_converters(compiler, expressions)
        return found


class _Run:
    """The kept query, handing out this run's compiler (read-only otherwise)."""

    def __init__(self, query: Any, compiler: Any):
        self._query, self._compiler = query, compiler

    def get_compiler(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


_kept: dict[Hashable, Compiled] = {}
_lock = Lock()


def compiled(
    key: Hashable, build: Callable[..., QuerySet], *names: str, exists: bool = False
) -> Compiled:
    """The compiled form of `build` for `key` (the shape: whatever changes the SQL beyond
    the marked values, and any value `build` reads from the database itself, such as a
    content type's id), built on first use. `exists`: compile it as `.exists()` does."""
    full = (key, connections["default"].vendor, exists)
    found = _kept.get(full)
    if found is None:
        found = Compiled(build, names, exists)
        with _lock:
            _kept[full] = found
    return found


def keep_prefetched(obj: Model, name: str, objects: list[Any]) -> list[Any]:
    """Make `objects` what `obj.<name>.all()` answers, as `prefetch_related` would have, for
    rows a caller read itself (a compiled query; none at all, when a fingerprint counted
    none). Returns the list, which the caller may extend with a row it just created. Django
    keeps prefetched rows this way (query.py, prefetch_one_level); this is the one place
    here that does it."""
    model = getattr(obj, name).model
    kept = model._default_manager.none()
    kept._result_cache = objects
    kept._prefetch_done = True
    cache = cast(Any, obj).__dict__.setdefault("_prefetched_objects_cache", {})
    cache[name] = kept
    return objects


def prefetched_rows(obj: Model, name: str) -> list[Any]:
    """The list `keep_prefetched` (or `prefetch_related`) left for `obj.<name>.all()`."""
    return cast(Any, obj)._prefetched_objects_cache[name]._result_cache
