import os
import secrets
import uuid

import boto3
import pytest

from dnsproviders.models import ProviderAccount
from tests.dnsproviders.strict_route53 import StrictRoute53Proxy
from tests.harness import motoserver

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
# A value of its own, so the secret-leak scan can tell it from any common word, whichever of
# this file and tests/secrets_registry.py sets it first.
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "aws-test-secret-" + secrets.token_hex(12))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def moto_server():
    with motoserver.running() as address:
        yield address


@pytest.fixture(scope="session")
def fault_proxy(moto_server):
    # Route 53's rule for a batch (moto's is laxer): the executor's first attempt relies on it.
    proxy = StrictRoute53Proxy(*moto_server).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(fault_proxy):
    fault_proxy.reset()
    yield fault_proxy
    fault_proxy.reset()


@pytest.fixture
def hosted_zone(moto_server):
    """A fresh hosted zone (own name, so tests never share records) and a raw client."""
    host, port = moto_server
    client = boto3.client("route53", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    name = f"z{uuid.uuid4().hex[:10]}.test."
    zone_id = client.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))["HostedZone"][
        "Id"
    ].split("/")[-1]
    return {"name": name, "id": zone_id, "client": client}


@pytest.fixture
def route53_account(db, proxy, hosted_zone):
    return ProviderAccount.objects.create(
        name=f"r53-{hosted_zone['id'].lower()}",
        kind=ProviderAccount.Kind.ROUTE53,
        settings={
            "endpoint_url": proxy.url,
            "hosted_zone_id": hosted_zone["id"],
            "base_delay": 0.01,
            "max_attempts": 3,
        },
    )
