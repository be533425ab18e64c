"""Querysets compiled once per process (failover/precompiled.py): a compiled query answers
what the ORM's own query answers, for every value; a shape the markers cannot follow is
refused; a value read from the database (a content type's id) is part of the shape."""

from __future__ import annotations

import threading

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from approvals.models import Decision
from approvals.services import record_decision
from failover import chain
from failover.errors import NotFound
from failover.models import FailoverRequest, Service
from failover.precompiled import Compiled
from failover.services import declare_request, lock_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(db):
    shop, other = make_service("shop"), make_service("other")
    return [
        declare_request(actor=user("declarer"), service=s, target="failover", reason="r")
        for s in (shop, other)
    ]


def test_the_chain_compiled_reads_what_the_orm_reads(two):
    record_decision(actor=user("vetoer"), request_id=two[0].pk, kind="veto", comment="x")
    people = sorted(user(u).pk for u in ("avail", "identity", "vetoer", "nobody"))
    for services in ([two[0].service], [two[1].service], [r.service for r in two]):
        pks = [str(s.pk) for s in services]
        orm = sorted(chain._chain_query(pks, people))
        assert orm and sorted(chain._chain_rows(pks, people)) == orm
        assert sorted(chain._chain_rows(pks, people[:1])) == sorted(
            chain._chain_query(pks, people[:1])
        )


def test_a_lock_reads_each_request_with_what_it_selects(two):
    with transaction.atomic():
        for request in two:
            locked = lock_request(request.pk)
            assert locked.pk == request.pk and locked.plan_hash == request.plan_hash
            assert locked.service.slug == request.service.slug  # selected with it
            assert locked.to_target.name == "failover"


@pytest.mark.parametrize("pk", [0, -1, 2**63, 10**30, "x", None])
def test_a_lock_of_no_such_request_is_not_found(pk):
    with transaction.atomic(), pytest.raises(NotFound):
        lock_request(pk)


def test_a_value_folded_into_the_sql_is_refused():
    """A marker the ORM did not pass as a parameter would run the SQL with the marker's
    value: building it fails instead."""
    with pytest.raises(ValueError, match="did not reach the SQL"):
        Compiled(lambda pk: FailoverRequest.objects.filter(pk=1), ("pk",), False)


def test_the_content_type_id_is_part_of_the_shape(two, monkeypatch):
    """The permission tables name services by a content type's id, which the compiled SQL
    keeps: another id (a test database flushed and filled again) compiles again, rather than
    running the SQL written with the old one."""
    pks, people = [str(two[0].service.pk)], [user("avail").pk]
    assert chain._chain_rows(pks, people)  # compiled with the real id
    real = ContentType.objects.get_for_model(Service)
    monkeypatch.setattr(chain, "_service_ct", lambda: ContentType(pk=real.pk + 1000))
    assert chain._chain_rows(pks, people) == []  # the other id names no grant


def test_decisions_read_for_a_decision_are_those_of_its_request(two):
    for request in two:
        record_decision(actor=user("vetoer"), request_id=request.pk, kind="veto", comment="x")
    from approvals.selectors import decisions_with_deciders as _with_deciders

    for request in two:
        found = _with_deciders(request.pk)
        assert [d.pk for d in found] == list(
            Decision.objects.filter(request=request).values_list("pk", flat=True)
        )
        assert all(d.actor.username == "vetoer" for d in found)  # selected with them


def test_one_services_registry_compiled_reads_what_a_list_reads(two):
    from failover.planning import registry_records

    a, b = (r.service_id for r in two)
    both = registry_records([a, b])
    assert registry_records([a])[a] == both[a] and registry_records([b])[b] == both[b]
    assert both[a] and both[a][0]["values"]  # records with their targets' values


@pytest.mark.django_db(transaction=True)
def test_values_come_back_as_their_fields_on_every_run_and_every_connection():
    """What converts a column's value (a JSON field's, a datetime on SQLite) is kept with each
    connection for each query: two queries of other columns, run in turn, and a run on another
    thread's connection each get their own, and the values equal the ORM's."""
    request = declare_request(
        actor=user("declarer"), service=make_service("shop"), target="failover", reason="r"
    )
    record_decision(actor=user("vetoer"), request_id=request.pk, kind="veto", comment="x")
    from approvals.selectors import decisions_with_deciders

    expected = FailoverRequest.objects.get(pk=request.pk)
    decided_at = Decision.objects.get(request=request).created_at

    def read():
        with transaction.atomic():
            locked = lock_request(request.pk)
        decisions = decisions_with_deciders(request.pk)
        return (locked.plan, locked.rollback_criteria, locked.created_at, locked.service.slug), [
            (d.created_at, d.actor.username) for d in decisions
        ]

    want = (
        (expected.plan, expected.rollback_criteria, expected.created_at, "shop"),
        [(decided_at, "vetoer")],
    )
    assert isinstance(want[0][0], dict) and want[0][0]  # a JSON field, read back as one
    assert read() == want and read() == want  # the second run uses what the first kept
    found = []
    worker = threading.Thread(target=lambda: found.append(read()))
    worker.start()
    worker.join()
    assert found == [want]
