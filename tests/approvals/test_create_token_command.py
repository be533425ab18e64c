"""The create_token command: expiries it understands, and a clear error for the rest."""

import pytest
from django.core.management import CommandError, call_command

from approvals.models import ApiToken
from tests.factories import user

pytestmark = pytest.mark.django_db


def test_a_relative_expiry_makes_a_token_that_expires(capsys):
    user("pager")
    call_command("create_token", "pager", "--name", "pd", "--expires", "30d")
    token = ApiToken.objects.get()
    assert token.expires_at is not None
    assert capsys.readouterr().out.strip()  # the token is printed once


@pytest.mark.parametrize("bad", ["7²d", "d", "12x", "2026-13-45T00:00:00", "99999999d"])
def test_an_expiry_it_cannot_read_is_refused_and_nothing_is_made(bad):
    user("pager")
    with pytest.raises(CommandError, match="--expires"):
        call_command("create_token", "pager", "--name", "pd", "--expires", bad)
    assert not ApiToken.objects.exists()


def test_the_server_error_page_needs_no_inline_style(rf):
    from django.views.defaults import server_error

    page = server_error(rf.get("/")).content.decode()
    assert "style=" not in page and "failover/app.css" in page


def test_configure_is_an_action_a_token_can_be_limited_to(capsys):
    user("registrar")
    call_command("create_token", "registrar", "--action", "configure", "--action", "read")
    assert ApiToken.objects.get().actions == ["configure", "read"]


def test_an_unknown_action_is_refused_and_nothing_is_made():
    user("registrar")
    with pytest.raises(CommandError, match="configure"):
        call_command("create_token", "registrar", "--action", "admin")
    assert not ApiToken.objects.exists()
