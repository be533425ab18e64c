"""The admin console reads break-glass uses and their reviews, and never edits them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.breakglass import record_review
from tests.breakglass.conftest import JUSTIFICATION, use
from tests.factories import user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, people):
    client.force_login(user("root", is_staff=True, is_superuser=True))
    return client


def test_uses_and_reviews_are_listed_searched_and_read_only(admin_client, pending):
    used = use(pending)
    review = record_review(actor=user("avail"), break_glass_id=used.pk, comment="fine by me")
    for model, obj in (("breakglass", used), ("breakglassreview", review)):
        listing = reverse(f"admin:approvals_{model}_changelist")
        assert admin_client.get(listing).status_code == 200
        assert admin_client.get(listing, {"q": "breakglass"}).status_code == 200
        change = admin_client.get(reverse(f"admin:approvals_{model}_change", args=[obj.pk]))
        assert change.status_code == 200
        assert b'name="_save"' not in change.content
        assert admin_client.get(reverse(f"admin:approvals_{model}_add")).status_code == 403
        delete = reverse(f"admin:approvals_{model}_delete", args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    page = admin_client.get(reverse("admin:approvals_breakglass_change", args=[used.pk]))
    assert JUSTIFICATION.encode() in page.content and b"fine by me" in page.content
    open_only = reverse("admin:approvals_breakglass_changelist") + "?review_closed_at__isempty=1"
    assert admin_client.get(open_only).status_code == 200
