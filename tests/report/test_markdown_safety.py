"""The Markdown downloads (post-incident report, runbook) show user-written text as text: a
real renderer (markdown-it in its GFM-like mode, with raw HTML on and linkify, and
Python-Markdown, which passes raw HTML through) makes no tag, link or image of it."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from markdown import markdown as python_markdown
from markdown_it import MarkdownIt

from approvals.services import record_decision
from failover.models import Service, Target
from failover.report.evidence import build_report
from failover.report.markdown import code, render, text
from failover.services import declare_request
from tests.factories import user

pytestmark = pytest.mark.django_db

HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    "![pixel](http://evil.com/p.png) <http://evil.com/auto> <mail@evil.com> "
    "www.evil.com https://evil.com/bare mail@evil.com [x][ref] *em* _em_ "
    "`tick` &lt;b&gt; &#60;i&#62; ~~gone~~ {: onclick=alert(4) } # heading | pipe \\*not\n"
    "[ref]: http://evil.com/definition\n<div>block</div>\n# heading\n    indented"
)
SHOWN = " ".join(HOSTILE.splitlines())  # the text a reader must see, on one line
# For names and addresses (100 to 255 characters in the database).
NAME = (
    "<script>x</script>[a](javascript:alert(3)) ![i](http://evil.com/p.png) "
    "<http://evil.com/a> *em*"
)
ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "ul", "li", "strong", "em", "code", "blockquote",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def gfm(markdown: str) -> str:
    md = MarkdownIt("gfm-like")  # CommonMark + tables, strikethrough, linkify; raw HTML on
    md.linkify.set({"fuzzy_link": False})  # as GitHub: bare URLs need a scheme or www.
    return md.render(markdown)


def renderings(markdown: str) -> dict[str, str]:
    return {
        "markdown-it": gfm(markdown),
        "Python-Markdown": python_markdown(markdown, extensions=["tables", "attr_list"]),
    }


def assert_only_our_markup(markdown: str) -> None:
    for renderer, page in renderings(markdown).items():
        for tag in re.findall(r"<[^>]*>", page):
            name = re.fullmatch(r"</?([a-z0-9]+)>", tag)
            assert name and name.group(1) in ALLOWED_TAGS, (renderer, tag)


def visible(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", page))


def test_text_renders_as_exactly_the_text_it_was():
    for value in (HOSTILE, "a`b``c`", "`", " x ", "http://a.test", "https://a.b/c?d=e&f"):
        shown = " ".join(value.splitlines())
        assert visible(gfm(text(value))).strip() == shown.strip()
        assert_only_our_markup(text(value))
        assert visible(gfm(code(value))).strip() == shown.strip()
        assert_only_our_markup(code(value))


def test_ordinary_evidence_stays_readable():
    assert text("2026-12-05T10:00:00Z eu-west-1 INC-7 (checkout)") == (
        "2026-12-05T10:00:00Z eu-west-1 INC-7 (checkout)"
    )


def hostile_request(service, people):
    request = declare_request(
        actor=people["declarer"],
        service=Service.objects.get(pk=service.pk),
        target="failover",
        reason=HOSTILE,
        incident_ref="INC-<b>[x](javascript:1)",
        rollback_criteria={"min_minutes_on_target": 0, "notes": HOSTILE},
    )
    record_decision(
        actor=people["avail"],
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
        comment=HOSTILE,
    )
    rename(service)
    return request


def rename(service) -> None:
    Service.objects.filter(pk=service.pk).update(name=NAME)
    for target in Target.objects.filter(service=service):
        target.name = f"{target.name} {NAME[:50]}"
        target.address = target.oidc_issuer = NAME
        target.save()


def test_the_report_shows_user_written_text_as_text(service, people):
    request = hostile_request(service, people)
    markdown = render(build_report(request))
    assert_only_our_markup(markdown)
    shown = visible(gfm(markdown))
    assert shown.count(SHOWN) >= 3  # the reason, the notes, the comment
    assert NAME in shown  # the service's name
    assert "INC-<b>[x](javascript:1)" in shown


def _hostile_strings(value, key=""):
    """Every string of the report replaced by HOSTILE, except the statuses the renderer looks
    up in its own tables."""
    if isinstance(value, dict):
        return {k: _hostile_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile_strings(v, key) for v in value]
    if isinstance(value, str) and key not in ("status", "kind", "direction"):
        return HOSTILE
    return value


def test_no_field_of_the_report_can_make_markup(service, people):
    request = hostile_request(service, people)
    report = _hostile_strings(build_report(request))
    assert_only_our_markup(render(report))


def test_the_runbook_shows_user_written_text_as_text(service, people):
    rename(service)
    for group in Group.objects.filter(name__startswith=f"{service.slug} "):
        group.name = f"{group.name} {NAME[:100]}"
        group.save()
    people["avail"].first_name, people["avail"].last_name = NAME, "[x](javascript:1)"
    people["avail"].save()
    client = Client()
    client.force_login(user("declarer"))
    response = client.get(f"/services/{service.slug}/runbook.md")
    assert response.status_code == 200
    markdown = response.content.decode()
    assert_only_our_markup(markdown)
    shown = visible(gfm(markdown))
    assert shown.count(NAME) >= 3  # the service name, the address, the issuer
    assert "[x](javascript:1)" in shown
