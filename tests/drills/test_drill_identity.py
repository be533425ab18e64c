"""A drill's readiness run checks the target's identity stack end to end as well (issue 17):
its results are evidence on the drill; a real request's run does not wait for them."""

import time

import pytest

from approvals.readiness import tasks
from approvals.readiness.models import ReadinessCheck
from failover.services import declare_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db
IDENTITY_KINDS = {"identity_sign_in", "signing_key_overlap", "cert_fingerprint"}


def kinds(request) -> set[str]:
    return set(ReadinessCheck.objects.filter(request=request).values_list("kind", flat=True))


def test_a_drill_carries_identity_evidence_a_real_request_does_not(zone_dir, settings):
    settings.READINESS_TIMEOUT = 1  # the factory's targets are documentation addresses
    shop = make_service("shop")
    drill = declare_request(
        actor=user("declarer"), service=shop, target="failover", reason="drill", drill=True
    )
    started = time.monotonic()
    tasks.run_readiness(drill.pk)
    assert kinds(drill) >= IDENTITY_KINDS, kinds(drill)
    sign_in = ReadinessCheck.objects.filter(request=drill, kind="identity_sign_in").latest("pk")
    assert not sign_in.ok and "drill client" in sign_in.reason  # not configured: says where
    assert not ReadinessCheck.objects.filter(
        request=drill, kind__in=IDENTITY_KINDS, identity_critical=True
    ).exists()
    drill.state = "cancelled"
    drill.save(update_fields=["state"])
    real = declare_request(actor=user("declarer"), service=shop, target="failover", reason="down")
    tasks.run_readiness(real.pk)
    assert not IDENTITY_KINDS & kinds(real)
    assert time.monotonic() - started < 60
