"""Records in a hosted zone of moto's Route 53, written and read straight through boto3 (around
the product, not through it). `hosted_zone` is {"id": zone id, "client": a boto3 route53 client}
(tests/dnsproviders/conftest.py's fixture of that name, or a benchmark's own)."""

from __future__ import annotations


def upsert(hosted_zone, name, values, **extra):
    hosted_zone["client"].change_resource_record_sets(
        HostedZoneId=hosted_zone["id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": v} for v in values],
                        **extra,
                    },
                }
            ]
        },
    )


def live_values(hosted_zone, name, set_identifier=None):
    sets = hosted_zone["client"].list_resource_record_sets(
        HostedZoneId=hosted_zone["id"], StartRecordName=name, StartRecordType="A"
    )
    for rrset in sets["ResourceRecordSets"]:
        if rrset["Name"] == name and rrset.get("SetIdentifier") == set_identifier:
            return sorted(r["Value"] for r in rrset["ResourceRecords"])
    return []
