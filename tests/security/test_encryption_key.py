"""Stored secrets are encrypted with SECRETS_ENCRYPTION_KEY, not with SECRET_KEY: rotating
SECRET_KEY keeps them readable; the encryption key itself rotates (NEW,OLD + the command)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.readiness.models import IdentityDrillClient
from audit.models import AuditEvent
from failover.intake.credentials import stored
from failover.intake.models import Integration
from failover.notify.models import NotificationEndpoint
from failover.secrets import check_encryption_key, decrypt, parse_keys
from tests.factories import make_service, user
from tests.test_settings import manage

pytestmark = pytest.mark.django_db
URL = "https://hooks.slack.example/services/T000/B000/not-a-real-secret-0123456789"
PD_KEY = "pagerduty-hmac-key-0123456789abcdef"
DRILL_SECRET = "drill-client-secret-0123456789abcdef"
OLD, NEW = Fernet.generate_key(), Fernet.generate_key()


@pytest.fixture
def stored_secrets(db):
    """A Slack endpoint (its URL is the credential) and a PagerDuty integration's HMAC key,
    stored under whatever keys are configured when called."""

    def store():
        endpoint = NotificationEndpoint(service=make_service("shop"), name="slack", format="slack")
        endpoint.set_url(URL)
        endpoint.save()
        bot = user("pager-bot")
        integration = Integration.objects.create(
            name="pd", kind="pagerduty", account=bot, secrets=[stored("pagerduty", PD_KEY)]
        )
        drill = IdentityDrillClient(target=endpoint.service.targets.get(name="failover"))
        drill.set_client_secret(DRILL_SECRET)
        drill.save()
        return endpoint, integration

    return store


def readable(endpoint, integration) -> bool:
    endpoint.refresh_from_db()
    integration.refresh_from_db()
    try:
        drill = IdentityDrillClient.objects.get()
        return (
            endpoint.get_url() == URL
            and decrypt(integration.secrets[0]["fernet"]) == PD_KEY
            and drill.client_secret() == DRILL_SECRET
        )
    except ValueError:
        return False


def test_rotating_secret_key_keeps_stored_secrets_readable(stored_secrets, settings):
    settings.SECRETS_ENCRYPTION_KEYS = [NEW]
    endpoint, integration = stored_secrets()
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert readable(endpoint, integration)
    assert check_encryption_key() == []


def test_without_the_setting_secret_key_rotation_loses_them_and_check_says_so(
    stored_secrets, settings
):
    settings.SECRETS_ENCRYPTION_KEYS = []
    endpoint, integration = stored_secrets()
    [warning] = check_encryption_key()
    assert warning.id == "failover.W020" and "rotating SECRET_KEY" in warning.msg
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert not readable(endpoint, integration)


def test_an_upgrade_reads_old_secrets_and_the_command_moves_them_to_the_key(
    stored_secrets, settings
):
    settings.SECRETS_ENCRYPTION_KEYS = []
    endpoint, integration = stored_secrets()  # stored under the key derived from SECRET_KEY
    settings.SECRETS_ENCRYPTION_KEYS = [NEW]
    assert readable(endpoint, integration)  # the derived key still decrypts
    call_command("rotate_encryption_key")
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert readable(endpoint, integration)
    event = AuditEvent.objects.get(action="secrets.reencrypted")
    assert event.data == {
        "integrations": 1, "notification_endpoints": 1, "identity_drill_clients": 1
    }  # fmt: skip
    assert URL not in str(event.data) and PD_KEY not in str(event.data)
    assert DRILL_SECRET not in str(event.data)


def test_the_key_rotates_new_first_then_the_old_one_goes(stored_secrets, settings):
    settings.SECRETS_ENCRYPTION_KEYS = [OLD]
    endpoint, integration = stored_secrets()
    settings.SECRETS_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_encryption_key")
    settings.SECRETS_ENCRYPTION_KEYS = [NEW]
    assert readable(endpoint, integration)


def test_the_command_changes_nothing_when_a_secret_cannot_be_opened(stored_secrets, settings):
    settings.SECRETS_ENCRYPTION_KEYS = [OLD]
    endpoint, integration = stored_secrets()
    before = (endpoint.url_encrypted, integration.secrets)
    settings.SECRETS_ENCRYPTION_KEYS = [NEW]  # OLD forgotten
    with pytest.raises(CommandError, match=r"nothing was changed.*integration pd"):
        call_command("rotate_encryption_key")
    endpoint.refresh_from_db()
    integration.refresh_from_db()
    assert (endpoint.url_encrypted, integration.secrets) == before
    assert not AuditEvent.objects.filter(action="secrets.reencrypted").exists()


def test_the_command_needs_a_key_and_generates_one(settings, capsys):
    settings.SECRETS_ENCRYPTION_KEYS = []
    with pytest.raises(CommandError, match="set SECRETS_ENCRYPTION_KEY first"):
        call_command("rotate_encryption_key")
    call_command("rotate_encryption_key", "--generate")
    assert parse_keys(capsys.readouterr().out.strip())


def test_a_malformed_key_stops_start_up(tmp_path):
    result = manage(
        "check", env={"DEBUG": "true", "SECRETS_ENCRYPTION_KEY": "not-a-key"}, tmp_path=tmp_path
    )
    assert result.returncode != 0
    assert "SECRETS_ENCRYPTION_KEY: key 1 is not a Fernet key" in result.stderr
