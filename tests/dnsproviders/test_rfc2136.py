"""RFC 2136 against a real BIND 9: TSIG-signed compare-and-swap done by the server."""

import pytest

from dnsproviders.base import DriftError, ProviderError
from dnsproviders.rfc2136.provider import Rfc2136Provider
from tests.dnsproviders import bind

pytestmark = pytest.mark.skipif(
    not bind.available(), reason="needs BIND 9: apt-get install bind9 bind9-utils"
)
ZONE = bind.ZONE
WWW = f"www.{ZONE}"


@pytest.fixture
def server(tmp_path):
    named = bind.Bind(tmp_path / "bind", {"www": "192.0.2.1"}).start()
    yield named
    named.stop()


@pytest.fixture
def provider(server, monkeypatch):
    monkeypatch.setenv("TEST_TSIG_SECRET", server.secret)
    return Rfc2136Provider(server.settings("TEST_TSIG_SECRET"))


def change(expected, new, name=WWW):
    return {
        "name": name,
        "type": "A",
        "ttl": 60,
        "set_identifier": "",
        "routing": "simple",
        "expected": expected,
        "new": new,
    }


def test_read_queries_the_server(provider):
    assert provider.read(ZONE, [change([], [])]) == {(WWW, "A", ""): ["192.0.2.1"]}
    assert provider.read(ZONE, [change([], [], f"nope.{ZONE}")]) == {(f"nope.{ZONE}", "A", ""): []}


def test_swap_lands_on_the_server(provider, server):
    change_id = provider.submit(
        ZONE, [change(["192.0.2.1"], ["192.0.2.2", "192.0.2.3"])], comment="t"
    )
    assert change_id.startswith("rfc2136:bind.test:")
    assert server.query(WWW) == ["192.0.2.2", "192.0.2.3"]


def test_a_prerequisite_mismatch_changes_nothing(provider, server):
    with pytest.raises(DriftError, match="NXRRSET"):
        provider.submit(ZONE, [change(["192.0.2.9"], ["192.0.2.2"])], comment="t")
    assert server.query(WWW) == ["192.0.2.1"]
    with pytest.raises(DriftError, match="YXRRSET"):  # "absent" but it exists
        provider.submit(ZONE, [change([], ["192.0.2.2"])], comment="t")
    assert server.query(WWW) == ["192.0.2.1"]


def test_a_wrong_key_is_refused(server, monkeypatch):
    import base64

    monkeypatch.setenv("WRONG", base64.b64encode(b"x" * 32).decode())
    provider = Rfc2136Provider(server.settings("WRONG"))
    with pytest.raises(ProviderError) as exc:
        provider.submit(ZONE, [change(["192.0.2.1"], ["192.0.2.2"])], comment="t")
    assert exc.value.permanent
    assert server.query(WWW) == ["192.0.2.1"]


def test_a_missing_secret_is_a_permanent_error(server):
    provider = Rfc2136Provider(server.settings("NOT_SET_ANYWHERE"))
    with pytest.raises(ProviderError, match="TSIG secret is not available") as exc:
        provider.submit(ZONE, [change(["192.0.2.1"], ["192.0.2.2"])], comment="t")
    assert exc.value.permanent


def test_an_unreachable_server_is_retryable():
    provider = Rfc2136Provider(
        {
            "server": "127.0.0.1",
            "port": bind.free_port(),
            "timeout": 1,
            "key_name": "k",
            "secret_env": "PATH",
        }
    )
    with pytest.raises(ProviderError) as exc:
        provider.read(ZONE, [change([], [])])
    assert not exc.value.permanent


@pytest.mark.django_db
def test_a_failover_executes_through_bind(server, monkeypatch):
    from approvals.services import record_decision
    from dnsproviders.models import ProviderAccount
    from failover.services import declare_request
    from tests.dnsproviders.test_execution import refreshed, run_worker
    from tests.factories import make_service, user

    monkeypatch.setenv("TEST_TSIG_SECRET", server.secret)
    account = ProviderAccount.objects.create(
        name="bind", kind="rfc2136", settings=server.settings("TEST_TSIG_SECRET")
    )
    service = make_service(
        "www", account=account, zone=ZONE, auth_change=False, policy={"execute_on_approval": True}
    )
    service.targets.filter(name="primary").update(address="192.0.2.1")
    from failover.models import RecordValue

    RecordValue.objects.filter(target__name="primary").update(values=["192.0.2.1"])
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="primary down"
    )
    assert request.plan["changes"][0]["expected"] == ["192.0.2.1"]
    for who, role in (("avail", "availability"), ("identity", "identity")):
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind="approve",
            role=role,
            plan_hash=request.plan_hash,
        )
    run_worker(request)
    assert refreshed(request).state == "applied"
    assert server.query(WWW) == ["203.0.113.1"]


def test_a_live_ttl_other_than_the_plan_still_swaps(provider, server):
    # The prerequisites compare values only (RFC 2136 §2.4.2: their TTL is zero), so a TTL
    # changed on the server outside the registry never blocks the swap.
    import dns.query
    import dns.tsigkeyring
    import dns.update

    keyring = dns.tsigkeyring.from_text({server.key_name: server.secret})
    update = dns.update.UpdateMessage(ZONE, keyring=keyring, keyalgorithm="hmac-sha256")
    update.replace(WWW, 3600, "A", "192.0.2.1")
    dns.query.tcp(update, "127.0.0.1", port=server.port, timeout=5)
    provider.submit(ZONE, [change(["192.0.2.1"], ["192.0.2.2"])], comment="ttl")
    assert server.query(WWW) == ["192.0.2.2"]
