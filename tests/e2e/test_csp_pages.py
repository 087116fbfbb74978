"""The pages work under the strict Content-Security-Policy: a real Chromium walks them and the
policy refuses nothing (no console report, no securitypolicyviolation event)."""

import re
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from studio.services.projects import project_budget_set
from studio.services.takes import shot_take_request
from studio.services.tokens import api_token_create
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_made_ready

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# Runs before any page script; CDP-injected, so the policy does not apply to it.
VIOLATIONS_RECORDED = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} refused ${event.blockedURI || "inline"} at ${location.pathname}`);
});
"""


@pytest.fixture
def ready_take(catalog):
    """A capped project with a rendered, charged take, made before the browser fixture starts its
    event loop in this thread (the services publish to Channels through async_to_sync on commit)."""
    creator = creator_create(username="cy")
    project = project_for(creator)
    project_budget_set(user=creator, project=project, cap_credits=20)
    return take_made_ready(shot_take_request(user=creator, shot=shot_for(project), idempotency_key="csp"))


def session_cookie(user, live_server_url: str) -> dict:
    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": live_server_url}


@pytest.fixture
def api_key(ready_take) -> str:
    return api_token_create(user=ready_take.owner, name="csp")[1]


@pytest.fixture
def cookies(ready_take, live_server_url) -> dict:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-admin-password")
    return {"creator": session_cookie(ready_take.owner, live_server_url), "admin": session_cookie(admin, live_server_url)}


class Violations:
    """CSP violations a page reports, from the console and from the DOM event."""

    def __init__(self, page):
        self.page, self.console = page, []
        page.add_init_script(VIOLATIONS_RECORDED)
        page.on("console", lambda message: "Content Security Policy" in message.text and self.console.append(message.text))

    def on_this_page(self) -> list[str]:
        reported, self.console = self.console, []
        return reported + self.page.evaluate("window.__cspViolations")


def bar_share(page, bar: str, dimension: str) -> float:
    """How much of its track a bar fills, 0–1, once its length has settled (bars grow into place)."""
    share = f"""() => {{
        const bar = document.querySelector("{bar}"), track = bar.parentElement.getBoundingClientRect();
        return bar.getBoundingClientRect().{dimension} / track.{dimension};
    }}"""
    # Polled from here: wait_for_function compiles its predicate with eval in the page, which this
    # very policy forbids ('unsafe-eval' is not allowed), while evaluate() goes through the debugger.
    deadline = time.monotonic() + 10
    while page.evaluate(share) <= 0 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)
    return page.evaluate(share)


def test_the_pages_work_under_the_content_security_policy(ready_take, api_key, cookies, live_server_url, worker, page,
                                                          screenshots):
    shot, project = ready_take.shot, ready_take.shot.project
    page.context.add_cookies([cookies["creator"]])
    violations = Violations(page)
    seen: list[str] = []

    page.goto("/")
    expect(page.get_by_role("link", name=re.compile("^Night market"))).to_be_visible()
    seen += violations.on_this_page()

    # The storyboard: the live connection opens (connect-src 'self' covers ws:), the budget bar has its length.
    page.goto(f"/projects/{project.pk}/")
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    percent = int(page.locator(".budget-fill").get_attribute("data-percent"))
    assert percent > 0 and bar_share(page, ".budget-fill", "width") == pytest.approx(percent / 100, abs=0.02)
    # A new take (through the API) holds credits: the meter is swapped in live and sized again.
    page.request.post(f"/api/shots/{shot.pk}/takes?fresh=true",
                      headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "csp-live"})
    expect(page.locator(".budget-fill")).not_to_have_attribute("data-percent", str(percent))
    live_percent = int(page.locator(".budget-fill").get_attribute("data-percent"))
    assert bar_share(page, ".budget-fill", "width") == pytest.approx(live_percent / 100, abs=0.02)
    seen += violations.on_this_page()

    # The shot page with its take: live, and htmx still posts (approve) and swaps the card.
    page.goto(f"/shots/{shot.pk}/")
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    card = page.locator(f"#take-{ready_take.pk}")
    expect(card.locator("video")).to_have_attribute("poster", ready_take.poster.url)
    assert page.evaluate("document.querySelectorAll('head style').length") == 0  # htmx injected no styles
    page.screenshot(path=screenshots / "csp-shot-page.png", full_page=True)
    card.get_by_role("button", name="Approve").click()
    expect(card).to_have_attribute("data-review", "approved")
    seen += violations.on_this_page()

    # Credits: the spend bars have their lengths, and the history filter submits on change.
    page.goto("/credits/")
    assert bar_share(page, ".spend-day:last-child", "height") == pytest.approx(1, abs=0.02)
    assert bar_share(page, ".spend-provider-fill", "width") == pytest.approx(1, abs=0.02)
    page.screenshot(path=screenshots / "csp-credits.png", full_page=True)
    seen += violations.on_this_page()
    with page.expect_navigation():
        page.get_by_label("Show").select_option("capture")
    assert "kind=capture" in page.url
    seen += violations.on_this_page()

    # The API docs: ninja's bundled Swagger UI, under its own policy.
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Shotcraft API")
    expect(page.locator(".opblock").first).to_be_visible()
    seen += violations.on_this_page()

    assert seen == []
    assert page.errors == []


def test_the_admin_works_under_the_content_security_policy(ready_take, cookies, live_server_url, worker, page):
    page.context.add_cookies([cookies["admin"]])
    violations = Violations(page)
    seen: list[str] = []

    for url in (reverse("admin:index"), reverse("admin:jobs_take_change", args=[ready_take.pk]),
                reverse("admin:billing_margin_report"), reverse("admin:auth_user_add"),
                reverse("admin:jobs_take_changelist")):
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
        seen += violations.on_this_page()

    # The admin's own scripts run: "select all" ticks every row (admin/js/actions.js).
    page.locator("#action-toggle").check()
    expect(page.locator("input.action-select").first).to_be_checked()
    seen += violations.on_this_page()

    # Not page.errors: the admin links no favicon, so Chromium's request for /favicon.ico is a 404.
    assert seen == []
