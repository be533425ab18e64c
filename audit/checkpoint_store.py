"""Where checkpoints are kept outside the database: every configured store gets every one.

- LocalStore: an append-only directory (AUDIT_CHECKPOINT_DIR). Each checkpoint is a file named
  by its zero-padded seq, read-only (0444), never overwritten. It protects against someone who
  holds the database but not the host; root on the host can still delete files.
- S3Store: a bucket created with Object Lock (AUDIT_CHECKPOINT_S3_*). Each object is written in
  COMPLIANCE mode until AUDIT_CHECKPOINT_RETENTION_DAYS from now: not even the account's root
  user can delete or overwrite that version before then. A bucket without Object Lock is
  refused.

A store is written with the exact bytes of a checkpoint file; writing the same bytes again is a
no-op (a retry), different bytes under an existing name are refused (Conflict).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from audit.offline_verify import CHECKPOINT_NAME

logger = logging.getLogger(__name__)


class StoreError(Exception):
    """A store cannot be used (unreachable, misconfigured): the message says which and why."""


class Conflict(StoreError):
    """Another checkpoint is already stored under this name."""


class LocalStore:
    name = "local"

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"local directory {self.directory}"

    def label(self, name: str) -> str:
        return str(self.directory / name)

    def put(self, name: str, data: bytes) -> None:
        """Write `name` once. Written whole under a temporary name (O_EXCL), made read-only and
        linked into place: the link fails if the name exists, so nothing is ever overwritten,
        and a crash mid-write leaves no half checkpoint under a checkpoint's name."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".writing-")
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot write: {exc}") from exc
        try:
            os.write(handle, data)
            os.fsync(handle)
            os.fchmod(handle, 0o444)
            os.close(handle)
            handle = None
            os.link(temporary, self.directory / name)
            _fsync_directory(self.directory)
        except FileExistsError:
            if self.get(name) != data:
                raise Conflict(f"{self.label(name)} already holds another checkpoint") from None
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot write {name}: {exc}") from exc
        finally:
            if handle is not None:
                os.close(handle)
            os.unlink(temporary)

    def get(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot read {name}: {exc}") from exc

    def _names(self) -> list[str]:
        try:
            entries = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"{self!r}: cannot list: {exc}") from exc
        return sorted(entry for entry in entries if CHECKPOINT_NAME.match(entry))

    def names_after(self, name: str | None) -> list[str]:
        return [entry for entry in self._names() if name is None or entry > name]

    def read_all(self) -> Iterator[tuple[str, bytes]]:
        """(label, bytes) of every checkpoint file, in seq order."""
        for name in self._names():
            data = self.get(name)
            if data is not None:
                yield self.label(name), data


def _fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# Buckets seen with Object Lock on, per process: checked once, not before every write.
_LOCKED_BUCKETS: set[tuple[str | None, str]] = set()


class S3Store:
    name = "s3"
    READERS = 16  # parallel GETs when reading every checkpoint back

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None, retention_days: int):
        self.bucket, self.prefix = bucket, prefix
        self.endpoint_url, self.retention_days = endpoint_url, retention_days
        self._client = None
        self.hidden: list[str] = []  # names a delete marker hides (set by read_all)

    def __repr__(self) -> str:
        return f"S3 bucket {self.bucket}"

    def label(self, name: str, version: str | None = None) -> str:
        label = f"s3://{self.bucket}/{self.prefix}{name}"
        return f"{label}?versionId={version}" if version else label

    @property
    def client(self):
        if self._client is None:
            config = Config(
                connect_timeout=5,
                read_timeout=15,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=self.READERS,
            )
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def _call(self, what: str, method: str, **kwargs):
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("NoSuchKey", "404", "PreconditionFailed", "412"):
                raise
            raise StoreError(
                f"{self!r}: {what}: {error.get('Code')} {error.get('Message')}"
            ) from exc
        except BotoCoreError as exc:
            raise StoreError(f"{self!r}: {what}: {exc}") from exc

    def ensure_locked(self) -> None:
        """Refuse a bucket without Object Lock: its checkpoints could be deleted by anyone
        holding the app's AWS credentials, which is what they must survive."""
        if (self.endpoint_url, self.bucket) in _LOCKED_BUCKETS:
            return
        try:
            answer = self._call(
                "reading its Object Lock configuration", "get_object_lock_configuration"
            )
            enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except (ClientError, StoreError) as exc:
            if "ObjectLockConfigurationNotFound" not in str(exc):
                raise
            enabled = None
        if enabled != "Enabled":
            raise StoreError(
                f"S3 bucket {self.bucket!r} does not have Object Lock enabled: refusing to keep "
                "audit checkpoints there (they could be deleted). Create a bucket with Object "
                "Lock (aws s3api create-bucket --object-lock-enabled-for-bucket ...) and set "
                "AUDIT_CHECKPOINT_S3_BUCKET to it"
            )
        _LOCKED_BUCKETS.add((self.endpoint_url, self.bucket))

    def put(self, name: str, data: bytes) -> None:
        self.ensure_locked()
        until = datetime.now(UTC) + timedelta(days=self.retention_days)
        try:
            self._call(
                f"writing {name}",
                "put_object",
                Key=self.prefix + name,
                Body=data,
                ContentType="application/json",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=until,
                IfNoneMatch="*",  # never a second version under a checkpoint's name
            )
        except ClientError:  # PreconditionFailed: the name is taken
            if self.get(name) != data:
                raise Conflict(f"{self.label(name)} already holds another checkpoint") from None

    def get(self, name: str, version: str | None = None) -> bytes | None:
        extra = {"VersionId": version} if version else {}
        try:
            answer = self._call(f"reading {name}", "get_object", Key=self.prefix + name, **extra)
        except ClientError:  # NoSuchKey
            return None
        return answer["Body"].read()

    def names_after(self, name: str | None) -> list[str]:
        start = {"StartAfter": self.prefix + name} if name else {}
        names, token = [], None
        while True:
            page = self._call(
                "listing checkpoints",
                "list_objects_v2",
                Prefix=self.prefix,
                **start,
                **({"ContinuationToken": token} if token else {}),
            )
            for item in page.get("Contents", []):
                base = item["Key"][len(self.prefix) :]
                if CHECKPOINT_NAME.match(base):
                    names.append(base)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return names

    def versions(self) -> tuple[list[tuple[str, str | None]], list[str]]:
        """Every stored version of every checkpoint, as (name, version id), and the names a
        delete marker hides: a version under Object Lock outlives any delete, so reading
        versions (not only current objects) sees every checkpoint ever written."""
        found, markers = [], set()
        key_marker = version_marker = None
        while True:
            page = self._call(
                "listing checkpoint versions",
                "list_object_versions",
                Prefix=self.prefix,
                **({"KeyMarker": key_marker} if key_marker else {}),
                **({"VersionIdMarker": version_marker} if version_marker else {}),
            )
            for item in page.get("Versions", []):
                base = item["Key"][len(self.prefix) :]
                if CHECKPOINT_NAME.match(base):
                    found.append((base, item.get("VersionId")))
            for item in page.get("DeleteMarkers", []):
                if item.get("IsLatest"):
                    markers.add(item["Key"][len(self.prefix) :])
            if not page.get("IsTruncated"):
                break
            key_marker = page.get("NextKeyMarker")
            version_marker = page.get("NextVersionIdMarker")
        hidden = sorted(name for name in markers if CHECKPOINT_NAME.match(name))
        return sorted(found), hidden

    def read_all(self) -> Iterator[tuple[str, bytes]]:
        self.ensure_locked()
        found, self.hidden = self.versions()
        copies = Counter(name for name, _ in found)
        several = {name for name, count in copies.items() if count > 1}

        def fetch(item):
            name, version = item
            label = self.label(name, version if name in several else None)
            return label, self.get(name, version)

        with ThreadPoolExecutor(self.READERS) as pool:
            for label, data in pool.map(fetch, found):
                if data is not None:
                    yield label, data


def configured_stores() -> list[LocalStore | S3Store]:
    stores: list[LocalStore | S3Store] = []
    if settings.AUDIT_CHECKPOINT_DIR:
        stores.append(LocalStore(settings.AUDIT_CHECKPOINT_DIR))
    if settings.AUDIT_CHECKPOINT_S3_BUCKET:
        stores.append(
            S3Store(
                settings.AUDIT_CHECKPOINT_S3_BUCKET,
                settings.AUDIT_CHECKPOINT_S3_PREFIX,
                settings.AUDIT_CHECKPOINT_S3_ENDPOINT_URL,
                settings.AUDIT_CHECKPOINT_RETENTION_DAYS,
            )
        )
    return stores
