"""Amazon Route 53 through boto3.

A change batch is all-or-nothing and a DELETE must match the live record set exactly, so
DELETE(expected) + CREATE(new) in one batch swaps only if nothing changed since the plan: the
batch is the compare-and-swap. Unread, the DELETE is the plan's view of the record set (one
call); when Route 53 refuses it, the sets are read and, if their values are the plan's expected
ones (a TTL or health check set outside the registry), the batch is sent once more deleting
exactly what was read; any other reading is drift. After a `read`, the DELETE is what was read.
Credentials come from the standard AWS chain; `role_arn` (with `external_id`) assumes a role
for zones in another account. Throttling is retried here with jittered exponential backoff.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from dnsproviders.base import (
    INSYNC,
    PENDING,
    Change,
    DriftError,
    Provider,
    ProviderError,
    check_expected,
    normalise_values,
    record_key,
    shown,
)

# Refusals that prove the request was not applied: safe to repeat as it is.
NOT_APPLIED_CODES = {"Throttling", "ThrottlingException", "PriorRequestNotComplete"}
RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalFailure",
    "RequestTimeout",
}
# A change batch Route 53 (InvalidChangeBatch) or moto (InvalidInput) refused as a whole:
# a DELETE that does not match the live set, or a CREATE of a set that exists.
REFUSED_CODES = {"InvalidChangeBatch", "InvalidInput", "drift"}
CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)
BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
_credentials: dict[tuple, tuple[float, dict]] = {}
_credentials_lock = threading.Lock()
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()
_zone_ids: dict[tuple, str] = {}  # hosted zone ids never change: look each up once per process


class Route53Provider(Provider):
    """settings: hosted_zone_id (or looked up by zone name), role_arn, external_id,
    endpoint_url (tests and VPC endpoints), max_attempts (default 5), base_delay (0.2 s)."""

    def __init__(self, settings, *, acquire=None):
        super().__init__(settings, acquire=acquire)
        self._live_sets: dict[tuple, dict | None] = {}  # the last read, for submit's DELETE

    def _client(self, service: str = "route53", credentials: dict | None = None):
        """A client per endpoint and credentials, made once per process (clients are
        thread-safe and expensive to build)."""
        url = self.settings.get("endpoint_url")
        key = (service, url, tuple(sorted((credentials or {}).items())))
        with _clients_lock:
            if key not in _clients:
                config = Config(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=20,
                )
                kwargs: dict[str, Any] = {"config": config, "region_name": "us-east-1"}
                if url:
                    kwargs["endpoint_url"] = url
                kwargs.update(credentials or {})
                _clients[key] = boto3.session.Session().client(service, **kwargs)
            return _clients[key]

    def warm(self) -> None:
        """Build the client (a few hundred milliseconds) and, when the account names its hosted
        zone, read one record of it: a process's first call loads what botocore loads lazily
        and opens the connection (a TLS handshake to Route 53, after the role is assumed),
        which the first failover would wait for. One try: a failure here is the first
        change's to meet and to record."""
        zone_id = self.settings.get("hosted_zone_id")
        if not zone_id:
            self._client("sts" if self.settings.get("role_arn") else "route53")
            return
        errors = (ProviderError, TimeoutError, *BOTO_ERRORS)
        with contextlib.suppress(*errors):
            client = self._route53()
            self.acquire()
            client.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="1")
            _load_shapes(client, "ChangeResourceRecordSets", "GetChange")

    def _route53(self):
        role_arn = self.settings.get("role_arn")
        if not role_arn:
            return self._client()
        key = (role_arn, self.settings.get("external_id", ""))
        with _credentials_lock:
            expires, creds = _credentials.get(key, (0.0, {}))
            if expires - time.time() < 300:
                params = {"RoleArn": role_arn, "RoleSessionName": "failover-approvals"}
                if key[1]:
                    params["ExternalId"] = key[1]
                sts = self._client("sts")
                response = self._call(lambda: sts.assume_role(**params))["Credentials"]
                creds = {
                    "aws_access_key_id": response["AccessKeyId"],
                    "aws_secret_access_key": response["SecretAccessKey"],
                    "aws_session_token": response["SessionToken"],
                }
                _credentials[key] = (response["Expiration"].timestamp(), creds)
        return self._client(credentials=creds)

    def _call(self, fn, *, idempotent: bool = True):
        """Call with backoff. A non-idempotent call is repeated here only after a refusal
        that proves it was not applied; any other failure goes back to the executor, which
        reads the live records before deciding to submit again."""
        attempts = int(self.settings.get("max_attempts", 5))
        base = float(self.settings.get("base_delay", 0.2))
        for attempt in range(1, attempts + 1):
            self.acquire()
            try:
                return fn()
            except botocore.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                message = exc.response.get("Error", {}).get("Message", str(exc))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                retryable = code in RETRYABLE_CODES or status >= 500
                if not retryable:
                    raise _permanent(code, message) from exc
                error = ProviderError(f"Route 53 {code or status}: {message}", code=code)
                if not idempotent and code not in NOT_APPLIED_CODES:
                    raise error from exc
            except CONNECTION_ERRORS as exc:
                error = ProviderError(f"Route 53 unreachable: {exc}", code="connection")
                if not idempotent:
                    raise error from exc
            if attempt == attempts:
                raise error
            # Full jitter: spread retries of many workers instead of stampeding together.
            time.sleep(random.uniform(0, base * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")

    def _zone_id(self, zone: str) -> str:
        if zone_id := self.settings.get("hosted_zone_id"):
            return zone_id
        key = (self.settings.get("endpoint_url"), self.settings.get("role_arn"), zone.lower())
        if key in _zone_ids:
            return _zone_ids[key]
        client = self._route53()
        found = self._call(lambda: client.list_hosted_zones_by_name(DNSName=zone, MaxItems="1"))
        for hosted in found.get("HostedZones", []):
            if hosted["Name"].lower() == zone.lower():
                _zone_ids[key] = hosted["Id"].split("/")[-1]
                return _zone_ids[key]
        raise ProviderError(f"no Route 53 hosted zone named {zone}", permanent=True)

    def read(self, zone: str, changes: Sequence[Change]) -> dict[tuple, list[str]]:
        return {key: _values(rrset) for key, rrset in self._read_sets(zone, changes).items()}

    def _read_sets(self, zone: str, changes: Sequence[Change]) -> dict[tuple, dict | None]:
        """The live record sets the changes touch, as Route 53 returns them (None if absent).
        Remembered, so `submit` can delete exactly what was just read."""
        client, zone_id = self._route53(), self._zone_id(zone)
        live: dict[tuple, dict | None] = {record_key(c): None for c in changes}
        for name, rtype in sorted({(c["name"], c["type"]) for c in changes}):
            response = self._call(
                lambda name=name, rtype=rtype: client.list_resource_record_sets(
                    HostedZoneId=zone_id,
                    StartRecordName=name,
                    StartRecordType=rtype,
                    MaxItems="100",
                )
            )
            for rrset in response.get("ResourceRecordSets", []):
                if rrset["Name"].lower() != name.lower() or rrset["Type"] != rtype:
                    continue
                key = (name.lower(), rtype, rrset.get("SetIdentifier", ""))
                if key in live:
                    live[key] = rrset
        self._live_sets.update(live)
        return live

    def submit(self, zone: str, changes: Sequence[Change], *, comment: str) -> str:
        if any(record_key(c) not in self._live_sets for c in changes):
            try:
                return self._change(zone, changes, None, comment)
            except ProviderError as exc:
                if exc.code not in REFUSED_CODES:
                    raise
                self.journal.append(
                    {"call": "submit", "ok": False, "error_code": exc.code, "error": exc.message}
                )
            # Refused: read what is there, so a set whose values are as planned (its TTL or
            # health check set outside the registry) is swapped, and drift is named.
            self._read_sets(zone, changes)
            self.journal.append(
                {"call": "read", "ok": True, "result": _shown(self._live_sets, changes)}
            )
        live = {record_key(c): self._live_sets[record_key(c)] for c in changes}
        check_expected({key: _values(rrset) for key, rrset in live.items()}, changes)
        return self._change(zone, changes, live, comment)

    def _change(self, zone: str, changes: Sequence[Change], live: dict | None, comment: str) -> str:
        """One change batch: DELETE(expected) + CREATE(new) per record; the DELETE is the set
        as read (`live`) or, unread, as the plan describes it."""
        client, zone_id = self._route53(), self._zone_id(zone)
        batch = []
        for change in changes:
            if change["expected"]:
                old = live[record_key(change)] if live else _rrset(change, "expected")
                batch.append({"Action": "DELETE", "ResourceRecordSet": old})
            if change["new"]:
                batch.append({"Action": "CREATE", "ResourceRecordSet": _rrset(change, "new")})
        response = self._call(
            lambda: client.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Comment": comment[:256], "Changes": batch}
            ),
            idempotent=False,
        )
        return response["ChangeInfo"]["Id"].split("/")[-1]

    def status(self, zone: str, change_id: str) -> str:
        client = self._route53()
        response = self._call(lambda: client.get_change(Id=change_id))
        return INSYNC if response["ChangeInfo"]["Status"] == "INSYNC" else PENDING


def _values(rrset: dict | None) -> list[str]:
    if rrset is None:
        return []
    return normalise_values(rrset["Type"], [r["Value"] for r in rrset.get("ResourceRecords", [])])


def _shown(sets: dict, changes: Sequence[Change]) -> dict[str, list[str]]:
    return shown({record_key(c): _values(sets.get(record_key(c))) for c in changes})


def _rrset(change: Change, side: str) -> dict:
    rrset: dict[str, Any] = {
        "Name": change["name"],
        "Type": change["type"],
        "TTL": change["ttl"],
        "ResourceRecords": [{"Value": v} for v in change[side]],
    }
    if change.get("set_identifier"):
        rrset["SetIdentifier"] = change["set_identifier"]
    if change.get("routing") == "failover":
        rrset["Failover"] = change["failover_role"]
        if change.get("health_check_id"):
            rrset["HealthCheckId"] = change["health_check_id"]
    elif change.get("routing") == "weighted":
        rrset["Weight"] = change["weight"]
    return rrset


def _permanent(code: str, message: str) -> ProviderError:
    if code == "InvalidChangeBatch" and ("not found" in message or "but the values" in message):
        return DriftError(f"record changed since plan, re-plan required (Route 53: {message})")
    return ProviderError(f"Route 53 {code}: {message}", permanent=True, code=code or "route53")


def _load_shapes(client: Any, *operations: str) -> None:
    """What botocore builds at an operation's first call (its model and the shapes of its
    request and answer, each cached once built), built now: the first failover's submit and
    status read were each a few milliseconds slower than the next ones'."""
    model = client.meta.service_model
    for name in operations:
        operation = model.operation_model(name)
        todo = [operation.input_shape, operation.output_shape]
        seen: set[int] = set()
        while todo:
            shape = todo.pop()
            if shape is None or id(shape) in seen:
                continue
            seen.add(id(shape))
            todo += list(getattr(shape, "members", {}).values())
            todo += [getattr(shape, a, None) for a in ("member", "key", "value")]
