"""RFC 1035 zone files on local disk: the embedded default, so a new user sees a real change.

Writers take an exclusive lock on a lock file beside the zone, re-read the zone, check the
plan's expected values (compare-and-swap), bump the SOA serial and replace the file
atomically (write to a temporary file, fsync, rename).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

from dnsproviders.base import (
    Change,
    Provider,
    ProviderError,
    check_expected,
    normalise_values,
    record_key,
)


class ZoneFileError(ProviderError):
    pass


class ZoneFileProvider(Provider):
    """settings: {"path": absolute directory holding <zone>.zone files}."""

    def _path(self, zone: str) -> Path:
        name = zone.rstrip(".").lower()
        if not name or "/" in name or name.startswith("."):
            raise ZoneFileError(f"invalid zone name {zone!r}", permanent=True)
        return Path(self.settings["path"]) / f"{name}.zone"

    @contextmanager
    def _locked(self, zone: str) -> Iterator[Path]:
        path = self._path(zone)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self, zone: str, path: Path) -> dns.zone.Zone:
        if not path.exists():
            raise ZoneFileError(f"zone file {path} does not exist", permanent=True)
        try:
            return dns.zone.from_file(str(path), origin=zone, relativize=False)
        except (dns.exception.DNSException, OSError) as exc:
            raise ZoneFileError(f"cannot read zone file {path}: {exc}", permanent=True) from exc

    @staticmethod
    def _check_routing(changes: Sequence[Change]) -> None:
        for change in changes:
            if change.get("routing", "simple") != "simple":
                raise ZoneFileError(
                    f"{change['name']}: the zone-file provider supports simple routing only",
                    permanent=True,
                )

    @staticmethod
    def _values(zone_obj: dns.zone.Zone, change: Change) -> list[str]:
        rdataset = zone_obj.get_rdataset(change["name"], change["type"])
        if rdataset is None:
            return []
        return normalise_values(change["type"], [r.to_text() for r in rdataset])

    def read(self, zone: str, changes: Sequence[Change]) -> dict[tuple, list[str]]:
        self._check_routing(changes)
        with self._locked(zone) as path:
            zone_obj = self._load(zone, path)
        return {record_key(c): self._values(zone_obj, c) for c in changes}

    def submit(self, zone: str, changes: Sequence[Change], *, comment: str) -> str:
        self._check_routing(changes)
        with self._locked(zone) as path:
            zone_obj = self._load(zone, path)
            check_expected({record_key(c): self._values(zone_obj, c) for c in changes}, changes)
            for change in changes:
                _replace(zone_obj, change["name"], change["type"], change["ttl"], change["new"])
            serial = _bump_serial(zone_obj)
            _write_atomically(zone_obj, path, comment)
        return f"{zone.rstrip('.')}@{serial}"


def _replace(zone_obj: dns.zone.Zone, name: str, rtype: str, ttl: int, values) -> None:
    node_name = dns.name.from_text(name)
    if not values:
        zone_obj.delete_rdataset(node_name, rtype)
        return
    rdataset = zone_obj.find_rdataset(node_name, rtype, create=True)
    rdataset.clear()
    rdataset.update_ttl(ttl)
    for value in values:
        rdataset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value))


def _bump_serial(zone_obj: dns.zone.Zone) -> int:
    soa_set = zone_obj.find_rdataset(zone_obj.origin, "SOA")
    soa = soa_set[0]
    serial = (soa.serial + 1) % 2**32
    ttl = soa_set.ttl
    soa_set.clear()
    soa_set.update_ttl(ttl)
    soa_set.add(soa.replace(serial=serial))
    return serial


def _write_atomically(zone_obj: dns.zone.Zone, path: Path, comment: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"; {comment}\n".replace("\n", " ").rstrip() + "\n")
            zone_obj.to_file(handle, relativize=False, want_origin=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def seed_zone(path: Path, zone: str, records: Mapping[tuple[str, str], tuple[int, list[str]]]):
    """Create the zone file if missing and add the record sets it lacks (never overwrites).
    Returns how many record sets were added."""
    origin = zone if zone.endswith(".") else zone + "."
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            zone_obj = dns.zone.from_file(str(path), origin=origin, relativize=False)
        else:
            zone_obj = dns.zone.from_text(
                f"@ 300 IN SOA ns1.{origin} hostmaster.{origin} 1 3600 600 1209600 60\n"
                f"@ 300 IN NS ns1.{origin}\nns1.{origin} 300 IN A 127.0.0.1\n",
                origin=origin,
                relativize=False,
            )
        added = 0
        for (name, rtype), (ttl, values) in sorted(records.items()):
            if zone_obj.get_rdataset(name, rtype) is None:
                _replace(zone_obj, name, rtype, ttl, values)
                added += 1
        if added or not path.exists():
            _bump_serial(zone_obj)
            _write_atomically(zone_obj, path, "records published by failover approvals")
        return added
