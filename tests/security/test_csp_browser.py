"""In a real Chromium: no page of the product breaks its Content-Security-Policy — the browser
pages (with their htmx polls), the sign-in page, the admin console and the API docs."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from approvals.breakglass import break_glass
from failover.models import Service
from failover.services import declare_request
from tests.harness.browser import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

# Runs before any page script: every violation the page reports, and Chromium's own console
# message for it, end up in Python (across navigations).
LISTEN = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} ` +
    `at ${e.sourceFile || document.location.pathname}:${e.lineNumber} (${e.sample})`);
});
"""


class Visitor:
    def __init__(self, browser, base_url: str):
        self.context = browser.new_context(base_url=base_url)
        self.context.set_default_timeout(15_000)
        self.violations: list[str] = []
        self.context.expose_function("reportViolation", lambda text: self.violations.append(text))
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and "Content Security Policy" in msg.text
                and self.violations.append(msg.text)
            ),
        )

    def visit(self, url: str, *, settle_ms: int = 0) -> int:
        response = self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        if settle_ms:
            self.page.wait_for_timeout(settle_ms)
        return response.status

    def sign_in(self, username: str, path: str = "/login/") -> None:
        self.visit(path)
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.locator("[type=submit]").click()
        self.page.wait_for_load_state("networkidle")


@pytest.fixture
def visitor(browser, live_server):
    opened = []

    def open_one():
        opened.append(Visitor(browser, live_server.url))
        return opened[-1]

    yield open_one
    for one in opened:
        one.context.close()


def test_the_browser_pages_keep_to_the_policy(demo, visitor):
    users = get_user_model().objects
    request = declare_request(
        actor=users.get(username="ic"),
        service=Service.objects.get(slug="checkout"),
        target="failover",
        reason="eu-west-1 <style>*{display:none}</style> failing",
    )
    use = break_glass(
        actor=users.get(username="ic"),
        request_id=request.pk,
        justification="checkout down for everyone, approvers unreachable <b>now</b>",
    )
    anonymous = visitor()
    assert anonymous.visit("/login/") == 200
    ic = visitor()
    ic.sign_in("ic")
    pages = [
        "/",
        "/services/checkout/",
        "/services/checkout/runbook/",
        "/declare/?service=checkout",
        f"/requests/{request.pk}/",
        f"/requests/{request.pk}/?action=cancel",
        f"/requests/{request.pk}/break-glass/",
        f"/requests/{request.pk}/report/",
        f"/break-glass/{use.pk}/review/",
        "/no-such-page/",
    ]
    for url in pages:
        ic.visit(url)
    assert ic.visit(f"/break-glass/{use.pk}/review/") == 200
    ic.visit(f"/requests/{request.pk}/", settle_ms=2500)  # the htmx polls swap fragments in
    assert anonymous.violations == [], "\n".join(anonymous.violations)
    assert ic.violations == [], "\n".join(ic.violations)


def test_the_admin_console_keeps_to_the_policy(demo, visitor):
    admin = visitor()
    admin.sign_in("admin", "/admin/login/")
    service = Service.objects.get(slug="checkout")
    for url in (
        "/admin/",
        "/admin/failover/service/",
        f"/admin/failover/service/{service.pk}/change/",
        "/admin/auth/user/add/",
        "/admin/audit/auditevent/",
    ):
        assert admin.visit(url) == 200, url
    assert admin.violations == [], "\n".join(admin.violations)


def test_the_api_docs_keep_to_the_policy(visitor):
    reader = visitor()
    assert reader.visit("/api/docs/") == 200
    reader.page.locator(".opblock-summary").first.click()  # the operations render
    reader.page.wait_for_timeout(500)
    assert reader.page.locator(".opblock").count() > 10
    assert reader.violations == [], "\n".join(reader.violations)
