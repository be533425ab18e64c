import json
import os
import secrets
import uuid

import boto3
import pytest
from django.db import connection

from audit.chain import COLUMNS, event_hash
from audit.models import AuditEvent
from audit.services import record_event
from audit.signing import new_key
from tests.harness import motoserver
from tests.secrets_registry import REGISTRY
from tests.tamper import tamper

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "aws-test-secret-" + secrets.token_hex(12))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    """Every audit test keeps checkpoints of its own (never var/checkpoints, which belong to
    the development database), and takes none unless it configures a signing key."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""
    settings.AUDIT_SIGNING_KEY = None
    settings.AUDIT_VERIFY_KEYS = []
    settings.AUDIT_LOCAL_SIGNING_KEY_FILE = None
    return tmp_path / "checkpoints"


def signing(name: str):
    """A fresh key, known to the leak scan: its private half must never be logged."""
    key = new_key(name)
    REGISTRY.register(key.private_text(), f"audit signing key {name}")
    REGISTRY.register(key.private_text().split(":", 1)[1], f"audit signing seed {name}")
    return key


@pytest.fixture
def key(settings):
    key = signing("k1")
    settings.AUDIT_SIGNING_KEY = key.private_text()
    return key


def events(n: int) -> None:
    for i in range(n):
        record_event(action="config.changed", object_type="x", object_id=str(i), data={"i": i})


def rewrite(seq: int, data: dict) -> None:
    """As a database superuser without the keys would: change event #seq, recompute every
    later hash with the product's own function, and move the chain head to match."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq").values("id", *COLUMNS))
    previous = rows[0]["prev_hash"]
    rows[0]["data"] = data
    for row in rows:
        row["prev_hash"] = previous
        row["hash"] = event_hash(**{name: row[name] for name in COLUMNS[:-1]})
        tamper(
            "UPDATE audit_auditevent SET data = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [json.dumps(row["data"]), row["prev_hash"], row["hash"], row["id"]],
        )
        previous = row["hash"]
    tamper("UPDATE audit_chainhead SET hash = %s WHERE id = 1", [previous])


def cut(keep: int) -> None:
    """Delete the events after #keep and rewind the head to #keep."""
    last = AuditEvent.objects.get(seq=keep)
    tamper("DELETE FROM audit_auditevent WHERE seq > %s", [keep])
    tamper("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1", [keep, last.hash])


def wipe() -> None:
    tamper("DELETE FROM audit_auditevent")
    tamper("DELETE FROM audit_chainhead")


@pytest.fixture(scope="session")
def s3_server():
    with motoserver.running() as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture
def s3(s3_server):
    return boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")


@pytest.fixture
def locked_bucket(settings, s3, s3_server):
    """A bucket of the test's own, with Object Lock, as the only store."""
    name = f"ckpt-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    settings.AUDIT_CHECKPOINT_S3_BUCKET = name
    settings.AUDIT_CHECKPOINT_S3_PREFIX = "audit/"
    settings.AUDIT_CHECKPOINT_S3_ENDPOINT_URL = s3_server
    settings.AUDIT_CHECKPOINT_RETENTION_DAYS = 30
    settings.AUDIT_CHECKPOINT_DIR = ""
    return name


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
