"""Every export ends with a trailer (count, last seq, last hash) or, when its stream fails
midway, with an error trailer; the offline verifier (run as a reviewer would, with python3)
refuses a file without one, with one that disagrees with the events, or with an error one."""

import csv
import io
import json
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.test import APIClient

from audit import export
from audit.models import AuditEvent
from audit.services import record_event
from tests.factories import user
from tests.tokens import personal_token

VERIFY = Path(__file__).resolve().parents[2] / "audit" / "offline_verify.py"


def offline(path: Path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["python3", str(VERIFY), *flags, str(path)], capture_output=True, text=True, timeout=60
    )


def history(n: int) -> None:
    for i in range(n):
        record_event(action="config.changed", object_type="x", object_id=str(i), data={"i": i})


def trailer_of(text: str, kind: str) -> dict:
    if kind == "jsonl":
        return json.loads(text.splitlines()[-1])["trailer"]
    last = list(csv.DictReader(io.StringIO(text)))[-1]
    assert last["seq"] == "trailer"
    return json.loads(last["data"])


def auditor_api() -> APIClient:
    auditor = user("auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_token(auditor, name='t')[1]}")
    return api


@pytest.fixture
def reconnects():
    """The tests that kill the database connection leave Django's one dead: drop it, so
    the flush after the test (and the next test) opens a new one."""
    yield
    connection.close()


@pytest.fixture
def exported(db, tmp_path):
    history(6)
    files = {}
    for kind in ("jsonl", "csv"):
        out = io.StringIO()
        call_command("export_audit", "--format", kind, stdout=out)
        files[kind] = tmp_path / f"audit.{kind}"
        files[kind].write_text(out.getvalue(), encoding="utf-8")
    return files


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_full_export_ends_with_a_trailer_the_verifier_accepts(exported, kind):
    text = exported[kind].read_text(encoding="utf-8")
    last = AuditEvent.objects.order_by("seq").last()
    assert trailer_of(text, kind) == {
        "complete": True,
        "count": AuditEvent.objects.count(),
        "last_seq": last.seq,
        "last_hash": last.hash,
    }
    result = offline(exported[kind], "--contiguous")
    assert result.returncode == 0, result.stdout
    assert f"OK: {last.seq} events verified, trailer matches" in result.stdout


def test_the_csv_header_is_unchanged_and_the_trailer_row_reads_as_a_sentence(exported):
    rows = list(csv.reader(io.StringIO(exported["csv"].read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == export.COLUMNS
    assert rows[-1][0] == "trailer" and rows[-1][4] == "export complete: 6 events, last seq 6"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_an_api_export_streams_to_its_trailer(kind, tmp_path):
    history(4)
    response = auditor_api().get(f"/api/v1/audit-events/export/?as={kind}")
    assert response.status_code == 200 and response.streaming
    path = tmp_path / f"api.{kind}"
    path.write_bytes(b"".join(response.streaming_content))
    assert trailer_of(path.read_text(encoding="utf-8"), kind)["count"] == AuditEvent.objects.count()
    result = offline(path, "--contiguous")
    assert result.returncode == 0 and "trailer matches" in result.stdout, result.stdout


def cut_last_line(lines):
    return [*lines[:-1], lines[-1][: len(lines[-1]) // 2]]


def without_trailer(lines):
    return lines[:-1]


def without_an_event(lines):
    return lines[:3] + lines[4:]  # a middle event: the links still hold where seq is consecutive


def without_the_last_event(lines):
    return lines[:-2] + lines[-1:]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (cut_last_line, "truncated: no trailer"),
        (without_trailer, "truncated: no trailer"),
        (without_an_event, "trailer says count 6, the events read give 5"),
        (without_the_last_event, "trailer says count 6, the events read give 5"),
    ],
)
def test_a_cut_or_thinned_export_is_refused(exported, kind, damage, message):
    lines = exported[kind].read_text(encoding="utf-8").splitlines(keepends=True)
    exported[kind].write_text("".join(damage(lines)), encoding="utf-8")
    result = offline(exported[kind])
    assert result.returncode == 1 and "BROKEN after " in result.stdout
    assert message in result.stdout, result.stdout


def test_a_trailer_naming_another_last_event_is_refused(exported):
    lines = exported["jsonl"].read_text(encoding="utf-8").splitlines()
    trailer = json.loads(lines[-1])
    trailer["trailer"]["last_hash"] = "0" * 64
    exported["jsonl"].write_text("\n".join([*lines[:-1], json.dumps(trailer)]) + "\n")
    result = offline(exported["jsonl"])
    assert result.returncode == 1 and "trailer says last_hash" in result.stdout


def test_exports_from_before_trailers_need_an_explicit_flag(exported):
    lines = exported["jsonl"].read_text(encoding="utf-8").splitlines(keepends=True)
    exported["jsonl"].write_text("".join(lines[:-1]), encoding="utf-8")
    assert offline(exported["jsonl"]).returncode == 1
    result = offline(exported["jsonl"], "--allow-no-trailer")
    assert result.returncode == 0 and "OK: 6 events verified (no trailer" in result.stdout
    lines[1] = lines[1].replace('"config.changed"', '"config.edited"')  # the flag checks the rest
    exported["jsonl"].write_text("".join(lines[:-1]), encoding="utf-8")
    assert offline(exported["jsonl"], "--allow-no-trailer").returncode == 1


def refused_as_failed(path: Path, text: str, kind: str) -> dict:
    path.write_text(text, encoding="utf-8")
    trailer = trailer_of(text, kind)
    assert trailer["complete"] is False and trailer["error"]
    result = offline(path)
    assert result.returncode == 1, result.stdout
    assert f"the export failed on the server: {trailer['error']}" in result.stdout
    return trailer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_api_export_whose_database_connection_dies_ends_with_an_error_trailer(
    tmp_path, reconnects
):
    """The backend serving the stream is terminated from a second connection, as an admin or
    a failover of the database would; the export fetches 2000 rows at a time, so the rows
    already fetched are written and the next fetch fails."""
    history(2100)
    stream = iter(auditor_api().get("/api/v1/audit-events/export/").streaming_content)
    first = next(stream)
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    text = (first + b"".join(stream)).decode()
    trailer = refused_as_failed(tmp_path / "failed.jsonl", text, "jsonl")
    assert trailer["count"] == 2000 and trailer["last_seq"] == 2000
    assert "terminat" in trailer["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_an_export_whose_query_is_interrupted_ends_with_an_error_trailer(kind, tmp_path, caplog):
    """On SQLite (and any database): the running query is interrupted through the driver,
    the way a statement timeout or an operator would stop it; the export's generator catches
    the database error, logs it and writes the error trailer."""
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL test above terminates the backend instead")
    history(12)
    generate = export.jsonl if kind == "jsonl" else export.csv_lines
    tally = export.Tally()
    stream = generate(export.events(chunk_size=5), tally)
    head = [next(stream) for _ in range(2 if kind == "jsonl" else 3)]
    thread = threading.Thread(target=connection.connection.interrupt)
    thread.start()
    thread.join()
    text = "".join([*head, *stream])
    trailer = refused_as_failed(tmp_path / f"failed.{kind}", text, kind)
    assert 0 < trailer["count"] < 12 and tally.error == trailer["error"]
    assert "interrupted" in trailer["error"]
    assert "audit export failed after" in caplog.text  # the full error is in the server log


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_export_command_says_it_failed_in_its_exit_status(tmp_path, reconnects):
    """The same kill through `manage.py export_audit`: the file ends with the error trailer
    and the command exits 1 naming the failure."""
    history(2100)
    out, settings = io.StringIO(), connection.settings_dict

    class KillAfterFirstLine(io.StringIO):
        killed = False

        def write(self, text):
            if not self.killed:
                self.killed = True
                pid = connection.connection.info.backend_pid
                with psycopg.connect(
                    host=settings["HOST"] or "127.0.0.1",
                    port=settings["PORT"] or 5432,
                    user=settings["USER"],
                    dbname=settings["NAME"],
                    autocommit=True,
                ) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            return out.write(text)

    with pytest.raises(CommandError, match="export failed after 2000 events"):
        call_command("export_audit", stdout=KillAfterFirstLine())
    refused_as_failed(tmp_path / "failed.jsonl", out.getvalue(), "jsonl")
