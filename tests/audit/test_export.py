import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from audit.models import AuditEvent
from failover.services import declare_request
from tests.factories import user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db
VERIFY = Path(__file__).resolve().parents[2] / "audit" / "offline_verify.py"


def offline(path: Path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFY), *flags, str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def exported(service, people, tmp_path):
    declare_request(actor=people["declarer"], service=service, target="failover", reason="x")
    files = {}
    for kind in ("jsonl", "csv"):
        out = io.StringIO()
        call_command("export_audit", "--format", kind, stdout=out)
        files[kind] = tmp_path / f"audit.{kind}"
        files[kind].write_text(out.getvalue(), encoding="utf-8")
    return files


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_an_export_verifies_offline(exported, kind):
    result = offline(exported[kind])
    assert result.returncode == 0, result.stdout
    assert f"OK: {AuditEvent.objects.count()} events verified" in result.stdout


def test_an_edited_export_is_caught(exported):
    lines = exported["jsonl"].read_text().splitlines()
    event = json.loads(lines[3])
    event["actor"] = "someone-else"
    lines[3] = json.dumps(event)
    exported["jsonl"].write_text("\n".join(lines) + "\n")
    result = offline(exported["jsonl"])
    assert result.returncode == 1
    assert f"event #{event['seq']}: content does not match its hash" in result.stdout


def test_a_removed_line_is_caught_in_a_contiguous_export(exported):
    lines = exported["jsonl"].read_text().splitlines()
    del lines[2]
    exported["jsonl"].write_text("\n".join(lines) + "\n")
    result = offline(exported["jsonl"], "--contiguous")
    assert result.returncode == 1 and "missing" in result.stdout
    rows = [json.loads(x) for x in lines]
    rows[2]["seq"] -= 1  # renumbering to hide the gap breaks the event's own hash
    exported["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert offline(exported["jsonl"], "--contiguous").returncode == 1


def test_per_request_export_over_the_api(service, people):
    from rest_framework.test import APIClient

    api = APIClient()
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="x"
    )
    auditor = user("auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    _, plain = personal_token(auditor, name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    response = api.get(f"/api/v1/audit-events/export/?as=csv&request={request.pk}")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows[:-1]] == ["request.declared"]
    assert rows[-1]["seq"] == "trailer" and json.loads(rows[-1]["data"])["count"] == 1
    for query in (
        "as=xml",
        "request=abc",
        "since=yesterday",
        "since=0104-12-31T14:11:23.0-18:22",
        "until=2026-13-45T00:00:00",
        "since=9999-12-31T23:59:59-12:00",
    ):
        assert api.get(f"/api/v1/audit-events/export/?{query}").status_code == 400
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_token(user('avail'), name='t')[1]}")
    assert api.get("/api/v1/audit-events/export/").status_code == 403


def test_sign_ins_are_audited(client, db):
    person = user("someone")
    person.set_password("pw-for-test")
    person.save()
    client.post("/login/", {"username": "someone", "password": "wrong"})
    client.post("/login/", {"username": "someone", "password": "pw-for-test"})
    failed = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert failed.data["username"] == "someone" and "wrong" not in json.dumps(failed.data)
    assert AuditEvent.objects.filter(action="auth.signed_in", actor="someone").exists()
