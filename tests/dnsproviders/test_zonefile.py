"""The zone-file provider: compare-and-swap, atomic replacement, SOA serial."""

import threading

import pytest

from dnsproviders.base import DriftError, ProviderError
from dnsproviders.zonefile.provider import ZoneFileProvider, seed_zone

ZONE = "example.test."


def change(expected, new, name="www.example.test.", **extra):
    return {
        "name": name,
        "type": "A",
        "ttl": 60,
        "set_identifier": "",
        "routing": "simple",
        "expected": expected,
        "new": new,
        **extra,
    }


@pytest.fixture
def provider(tmp_path):
    seed_zone(
        tmp_path / "example.test.zone", ZONE, {("www.example.test.", "A"): (60, ["192.0.2.1"])}
    )
    return ZoneFileProvider({"path": str(tmp_path)})


def test_swap_bumps_the_serial_and_reads_back(provider, tmp_path):
    before = (tmp_path / "example.test.zone").read_text()
    assert "IN SOA" in before and "192.0.2.1" in before
    change_id = provider.submit(
        ZONE, [change(["192.0.2.1"], ["192.0.2.2", "192.0.2.3"])], comment="request #1"
    )
    assert change_id == "example.test@3"
    assert provider.read(ZONE, [change([], [])]) == {
        ("www.example.test.", "A", ""): ["192.0.2.2", "192.0.2.3"]
    }
    assert provider.status(ZONE, change_id) == "INSYNC"


def test_a_stale_expectation_writes_nothing(provider, tmp_path):
    path = tmp_path / "example.test.zone"
    before = path.read_text()
    with pytest.raises(DriftError, match=r"reads 192\.0\.2\.1, plan expected 192\.0\.2\.9"):
        provider.submit(ZONE, [change(["192.0.2.9"], ["192.0.2.2"])], comment="x")
    assert path.read_text() == before


def test_creating_and_deleting_records(provider):
    provider.submit(ZONE, [change([], ["192.0.2.5"], name="new.example.test.")], comment="add")
    provider.submit(ZONE, [change(["192.0.2.5"], [], name="new.example.test.")], comment="del")
    assert provider.read(ZONE, [change([], [], name="new.example.test.")]) == {
        ("new.example.test.", "A", ""): []
    }


def test_concurrent_writers_are_serialised(provider):
    results = []

    def swap(old, new):
        try:
            provider.submit(ZONE, [change([old], [new])], comment="race")
            results.append("ok")
        except DriftError:
            results.append("drift")

    threads = [
        threading.Thread(target=swap, args=("192.0.2.1", f"192.0.2.{10 + i}")) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["drift"] * 7 + ["ok"]


def test_routing_other_than_simple_is_refused(provider):
    with pytest.raises(ProviderError) as exc:
        provider.read(ZONE, [change([], [], routing="weighted", set_identifier="a")])
    assert exc.value.permanent


def test_missing_zone_and_bad_names_are_permanent_errors(tmp_path):
    provider = ZoneFileProvider({"path": str(tmp_path)})
    for zone in ("missing.test.", "../etc/passwd."):
        with pytest.raises(ProviderError) as exc:
            provider.read(zone, [change([], [], name="www.missing.test.")])
        assert exc.value.permanent


def test_seeding_never_overwrites(tmp_path):
    path = tmp_path / "example.test.zone"
    assert seed_zone(path, ZONE, {("a.example.test.", "A"): (60, ["192.0.2.1"])}) == 1
    assert (
        seed_zone(
            path,
            ZONE,
            {
                ("a.example.test.", "A"): (60, ["192.0.2.99"]),
                ("b.example.test.", "A"): (60, ["192.0.2.2"]),
            },
        )
        == 1
    )
    text = path.read_text()
    assert "192.0.2.1" in text and "192.0.2.99" not in text and "192.0.2.2" in text


def test_a_live_ttl_other_than_the_plan_still_swaps(tmp_path):
    # Compare-and-swap is on values: a TTL set by hand in the zone never blocks the swap; the
    # record leaves with the registry's TTL.
    import dns.zone

    path = tmp_path / "example.test.zone"
    seed_zone(path, ZONE, {("www.example.test.", "A"): (300, ["192.0.2.1"])})
    provider = ZoneFileProvider({"path": str(tmp_path)})
    provider.submit(ZONE, [change(["192.0.2.1"], ["192.0.2.2"])], comment="ttl")
    rdataset = dns.zone.from_file(str(path), origin=ZONE, relativize=False).get_rdataset(
        "www.example.test.", "A"
    )
    assert ([r.to_text() for r in rdataset], rdataset.ttl) == (["192.0.2.2"], 60)
