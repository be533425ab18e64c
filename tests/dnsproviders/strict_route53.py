"""The fault proxy, refusing change batches as Route 53 does and moto does not.

Route 53 applies a batch only if every DELETE names a record set exactly as it is (values,
TTL, routing) and every CREATE a set that does not exist; otherwise it refuses the whole batch
with InvalidChangeBatch. moto checks a DELETE against the history of its zone, not against what
is there now, so a DELETE of a value the record held once passes. The executor's first attempt
relies on the refusal (the batch is its compare-and-swap), so its tests need the real rule.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import boto3

from tests.harness.faultproxy import ERROR_XML, FaultProxy

NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
CHANGE_PATH = re.compile(r"/hostedzone/([^/]+)/rrset/?$")


def _text(node: ET.Element, tag: str) -> str:
    found = node.find(NS + tag)
    return (found.text or "") if found is not None else ""


def _key(name: str, rtype: str, set_id: str) -> tuple[str, str, str]:
    return (name.lower().rstrip(".") + ".", rtype, set_id)


def _shape(rrset: dict[str, Any]) -> tuple:
    """What must match for a DELETE: values (as a set), TTL and routing."""
    return (
        sorted(r["Value"] for r in rrset.get("ResourceRecords", [])),
        int(rrset.get("TTL", 0)),
        str(rrset.get("Weight", "")),
        rrset.get("Failover", ""),
        rrset.get("HealthCheckId", ""),
    )


class StrictRoute53Proxy(FaultProxy):
    def __init__(self, upstream_host: str, upstream_port: int, **kwargs: Any):
        super().__init__(upstream_host, upstream_port, **kwargs)
        self.refused = 0
        self.client = boto3.client(
            "route53",
            endpoint_url=f"http://{upstream_host}:{upstream_port}",
            region_name="us-east-1",
        )

    def reset(self) -> None:
        super().reset()
        self.refused = 0

    def _forward(self, method, path, headers, body):
        match = CHANGE_PATH.search(path)
        if method == "POST" and match and (refusal := self._refusal(match.group(1), body)):
            self.refused += 1
            error = ERROR_XML.format(code="InvalidChangeBatch", message=refusal)
            return 400, {"Content-Type": "text/xml"}, error.encode()
        return super()._forward(method, path, headers, body)

    def _refusal(self, zone_id: str, body: bytes) -> str | None:
        changes = ET.fromstring(body).iter(NS + "Change")
        live: dict[tuple, dict] = {}
        for rrset in self.client.list_resource_record_sets(HostedZoneId=zone_id)[
            "ResourceRecordSets"
        ]:
            live[_key(rrset["Name"], rrset["Type"], rrset.get("SetIdentifier", ""))] = rrset
        for change in changes:
            node = change.find(NS + "ResourceRecordSet")
            assert node is not None
            name, rtype = _text(node, "Name"), _text(node, "Type")
            key = _key(name, rtype, _text(node, "SetIdentifier"))
            asked = {
                "ResourceRecords": [{"Value": v.text or ""} for v in node.iter(NS + "Value")],
                "TTL": _text(node, "TTL") or 0,
                "Weight": _text(node, "Weight"),
                "Failover": _text(node, "Failover"),
                "HealthCheckId": _text(node, "HealthCheckId"),
            }
            where = f"[name='{key[0]}', type='{rtype}']"
            if _text(change, "Action") == "DELETE":
                if key not in live:
                    return f"Tried to delete resource record set {where} but it was not found"
                if _shape(asked) != _shape(live[key]):
                    return (
                        f"Tried to delete resource record set {where} but the values provided "
                        "do not match the current values"
                    )
                del live[key]  # a CREATE later in the batch may take its place
            elif _text(change, "Action") == "CREATE":
                if key in live:
                    return f"Tried to create resource record set {where} but it already exists"
                live[key] = asked
        return None
