"""One code, two requests at the same moment: on PostgreSQL's row locks only one passes."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity import codes
from identity.models import StepUpProof
from identity.stepup import Binding, StepUpError, confirm
from tests.factories import user
from tests.harness.races import race as shared_race
from tests.identity.test_codes import code_at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 5


def race(*calls):
    return shared_race(*calls, expected=(StepUpError,))


def test_a_totp_code_sent_twice_at_once_confirms_once():
    person = user("racer")
    device = TOTPDevice.objects.create(user=person, name="phone", confirmed=True, tolerance=2)
    for step in (-2, -1, 0, 1, 2):  # each round a later step: last_t moves on
        code = code_at(device, step)
        results = race(
            *[lambda code=code: confirm(person, Binding("veto", "request:1"), {"totp": code})] * 2
        )
        assert sum(isinstance(r, StepUpProof) for r in results) == 1, results


def test_a_recovery_code_sent_twice_at_once_confirms_once():
    person = user("racer")
    for _ in range(ROUNDS):
        code = codes.generate_recovery_codes(person, actor=person)[0]
        results = race(
            *[lambda code=code: confirm(person, Binding("veto"), {"recovery_code": code})] * 2
        )
        assert sum(isinstance(r, StepUpProof) for r in results) == 1, results
