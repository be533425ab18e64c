"""The report through its doors: the printable page, the Markdown and JSON downloads, the REST
endpoint; each readable by exactly those who may read the request."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.tokens import personal_token

pytestmark = pytest.mark.django_db


def page(client, request, suffix: str = "/"):
    return client.get(f"/requests/{request.pk}/report{suffix}")


def test_the_request_page_links_to_its_report(client, applied, people):
    client.force_login(people["declarer"])
    body = client.get(f"/requests/{applied.pk}/").content.decode()
    assert f'href="/requests/{applied.pk}/report/"' in body


def test_the_report_page_shows_the_evidence_and_a_verified_chain(client, applied, people):
    client.force_login(people["identity"])  # any authority on the service reads it
    response = page(client, applied)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-chain-ok="true"' in body and "✔ verified" in body
    assert body.count('class="decision"') == 3
    for who in ("avail", "identity", "ir"):
        assert f'<td class="nowrap">{who}</td>' in body
    assert applied.plan_hash in body
    assert "198.51.100.1" in body and "203.0.113.1" in body  # records before and after
    assert "example.test@" in body  # the provider's change id
    assert body.count('class="readiness-check"') == 4
    assert 'data-control="PR.AA-05" data-status="met"' in body
    assert 'data-control="RC.RP-06" data-status="gap"' in body
    assert "failover/report.css" in body
    assert "<script>" not in body and "style=" not in body  # the CSP allows neither
    assert f'href="/requests/{applied.pk}/report.md"' in body


def test_markdown_and_json_download_as_attachments(client, applied, people):
    client.force_login(people["avail"])
    md = page(client, applied, ".md")
    assert md.status_code == 200 and md["Content-Type"] == "text/markdown; charset=utf-8"
    assert md["Content-Disposition"] == f'attachment; filename="failover-{applied.pk}-report.md"'
    text = md.content.decode()
    assert text.startswith(f"# Post-incident report: failover #{applied.pk}")
    assert "## Audit chain verification" in text and "✔ verified" in text
    assert "## Framework mapping" in text and "RC.RP-01" in text and "NHI7" in text
    assert f"`{applied.plan_hash}`" in text

    raw = page(client, applied, ".json")
    assert raw.status_code == 200 and raw["Content-Type"] == "application/json; charset=utf-8"
    assert raw["Content-Disposition"].endswith(f'filename="failover-{applied.pk}-report.json"')
    report = json.loads(raw.content)
    assert report["request"]["id"] == applied.pk and report["verification"]["ok"]
    assert len(report["decisions"]) == 3


@pytest.mark.parametrize("suffix", ["/", ".md", ".json"])
def test_outsiders_see_no_report(client, applied, people, suffix):
    for who in ("other", "outsider"):  # authority on another service only; none at all
        client.force_login(people[who])
        assert page(client, applied, suffix).status_code == 404
    client.logout()
    response = page(client, applied, suffix)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("suffix", ["/", ".md", ".json"])
def test_auditors_read_every_report_without_authority_on_services(client, applied, suffix):
    from django.contrib.auth.models import Permission

    from tests.factories import user

    auditor = user("auditor")
    client.force_login(auditor)
    assert page(client, applied, suffix).status_code == 404
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(user("auditor"))  # a fresh user object: permissions are cached
    assert page(client, applied, suffix).status_code == 200
    api = api_client(user("auditor"), actions=["read"])
    assert api.get(f"/api/v1/failover-requests/{applied.pk}/report/").status_code == 200


def api_client(user, **scope) -> APIClient:
    client = APIClient()
    _, plain = personal_token(user, name="report", **scope)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def test_the_api_gives_the_report_as_json_or_markdown(applied, people):
    client = api_client(people["ir"], actions=["read"])
    url = f"/api/v1/failover-requests/{applied.pk}/report/"
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    report = response.json()
    assert report["verification"]["ok"] and report["dns_changes"][0]["status"] == "verified"
    assert {c["id"] for c in report["frameworks"]["controls"]} >= {"RC.RP-01", "PR.AA-05"}
    md = client.get(url, {"as": "md"})
    assert md.status_code == 200 and md["Content-Type"] == "text/markdown; charset=utf-8"
    assert md.content.decode().startswith("# Post-incident report")
    bad = client.get(url, {"as": "pdf"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"as": ["json or md"]}


def test_the_api_refuses_outsiders_and_unscoped_tokens(applied, people):
    url = f"/api/v1/failover-requests/{applied.pk}/report/"
    for who in ("other", "outsider"):
        assert api_client(people[who]).get(url).status_code == 404
    assert APIClient().get(url).status_code == 401
    declare_only = api_client(people["declarer"], actions=["declare"])
    response = declare_only.get(url)
    assert (
        response.status_code == 403
        and "not scoped for 'read'" in response.json()["error"]["message"]
    )
    assert (
        api_client(people["declarer"]).get("/api/v1/failover-requests/999999/report/").status_code
        == 404
    )


def test_the_report_is_in_the_api_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/failover-requests/{id}/report/" in paths
