"""axe-core on every page a creator or a reviewer sees, in one browser session: no violation of
serious or critical impact.

The data and the browser are made once for the module (`tour`), and the module fixture empties the
tables afterwards, as a transactional test does. The browser tests never touch the database
themselves, so they carry no django_db mark: pytest-django's per-test transaction, opened while
Playwright's loop runs, would leave a connection behind. `make test` keeps the module on one xdist
worker (xdist_group + --dist loadgroup), so one browser serves every page."""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import redis.exceptions
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.views import defaults
from playwright.sync_api import expect

from billing.models import CreditPack
from billing.purchases import purchase_test_checkout
from jobs.models import Take
from jobs.outbound.endpoints import webhook_endpoint_create
from jobs.pipeline.settle import take_fail
from providers.catalog import catalog_sync
from providers.health import health_forget
from providers.models import ProviderModel
from studio.config.error_pages import error_page, upload_limit
from studio.config.outages import DependencyDownPages
from studio.services.projects import shot_update
from studio.services.review import review_comment_add, review_comment_resolve, share_link_create, share_link_token
from studio.services.takes import shot_take_request, take_approve, take_reject
from tests.conftest import purge_test_queue
from tests.e2e.axe import assert_accessible, axe_inject
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_made_ready

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.xdist_group("accessibility")]

# Every page template, and the stop of the tour that shows it (test_the_tour_visits_every_page_template).
PAGE_TEMPLATES = {
    "accounts/login.html": "login", "accounts/signup.html": "signup", "studio/project_list.html": "projects",
    "studio/project_form.html": "new project", "studio/project_detail.html": "storyboard",
    "studio/shot_form.html": "new shot", "studio/shot_detail.html": "shot", "studio/take_follow_up.html": "render final",
    "billing/credits.html": "credits", "billing/receipt.html": "receipt", "studio/webhooks.html": "webhooks",
    "studio/webhook_detail.html": "webhook", "studio/webhook_secret.html": "webhook secret",
    "cuts/cut_page.html": "cut", "studio/review/hub.html": "review hub", "studio/review/page.html": "review",
    "studio/shot_import.html": "shot import", "studio/take_compare.html": "compare", "errors/413.html": "413", "errors/503.html": "503", "404.html": "404",
}


@dataclass
class Tour:
    """The browser pages of the three audiences, and the URLs of what was made for them."""
    visitor: object
    creator: object
    reviewer: object
    urls: dict[str, str]
    error_pages: dict[str, tuple[int, str]]


def tour_data_make() -> dict:
    """A creator's project with every state a take card shows, a cut, a review link with a comment,
    a webhook endpoint and a test purchase. Made through the services, before the browser starts its
    event loop in this thread (the services publish to Channels through async_to_sync on commit)."""
    catalog_sync()
    for slug in ProviderModel.objects.values_list("slug", flat=True):
        health_forget(slug)
    creator = creator_create(username="ida")
    project = project_for(creator)
    # One real render: the other shots have the same spec (title included), so their takes reuse its video at once.
    shot, approved, pending = (shot_for(project) for _ in range(3))
    stale = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot, idempotency_key="a11y-1")))
    take_approve(take=shot_take_request(user=creator, shot=approved, idempotency_key="a11y-2"))
    awaiting = shot_take_request(user=creator, shot=pending, idempotency_key="a11y-3")
    assert awaiting.state == "ready"
    rejected = take_reject(take=shot_take_request(user=creator, shot=pending, idempotency_key="a11y-6"))
    shot_update(shot=shot, subject="A lantern seller under pink neon")  # the approval of `stale` is now stale
    take_fail(take_id=shot_take_request(user=creator, shot=shot, idempotency_key="a11y-4").pk, reason="The provider timed out")
    shot_take_request(user=creator, shot=shot, idempotency_key="a11y-5")  # stays queued: no worker runs in this module
    current = Take.objects.get(shot=approved)
    link = share_link_create(user=creator, project=project, label="Client")
    review_comment_add(link=link, reviewer_name="Rosa", shot=shot, take=stale, at_ms=1000, body="Warmer light here?")
    review_comment_resolve(comment=review_comment_add(link=link, reviewer_name="Rosa", shot=approved, body="Love it"))
    endpoint = webhook_endpoint_create(owner=creator, url="http://127.0.0.1:9/hook", event_kinds=["take.ready"]).endpoint
    pack, _ = CreditPack.objects.get_or_create(slug="starter", defaults={"name": "Starter pack", "credits": 1_000,
                                                                         "price_cents": 1_000})
    purchase = purchase_test_checkout(user=creator, pack=pack)
    client = Client()
    client.force_login(creator)
    return {
        "cookie": {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value},
        "urls": {
            "projects": "/", "storyboard": f"/projects/{project.pk}/", "new shot": f"/projects/{project.pk}/shots/new/",
            "shot import": f"/projects/{project.pk}/shots/import/",
            "shot": f"/shots/{shot.pk}/", "shot approved": f"/shots/{approved.pk}/",
            "shot awaiting review": f"/shots/{pending.pk}/",
            "compare": f"/shots/{pending.pk}/compare/?take={awaiting.pk}&take={rejected.pk}", "new project": "/projects/new/",
            "render final": f"/takes/{current.pk}/final/", "credits": "/credits/",
            "receipt": f"/credits/purchases/{purchase.pk}/", "webhooks": "/account/webhooks/",
            "webhook": f"/account/webhooks/{endpoint.pk}/", "cut": f"/projects/{project.pk}/cut/",
            "review hub": f"/projects/{project.pk}/review/", "review": f"/review/{share_link_token(link=link)}/",
        },
    }


def error_pages_render() -> dict[str, tuple[int, str]]:
    """The production answers for a missing page, a body too large and a dependency down, rendered
    by their handlers with DEBUG off (the test server runs with DEBUG on and would show its own)."""
    request = RequestFactory().get("/no-such-page/")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "DEBUG", False)
        not_found = defaults.page_not_found(request, Exception("no such page"))
    unavailable = DependencyDownPages(lambda request: None).process_exception(request, redis.exceptions.ConnectionError())
    answers = {"404": not_found, "413": error_page("413.html", status=413, limit=upload_limit()), "503": unavailable}
    return {name: (response.status_code, response.content.decode()) for name, response in answers.items()}


@pytest.fixture(scope="module")
def tour(live_server_url, django_db_blocker):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with django_db_blocker.unblock():
        data, error_pages = tour_data_make(), error_pages_render()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as the browser fixture in conftest.py does
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = {}
            for audience in ("visitor", "creator", "reviewer"):
                context = browser.new_context(base_url=live_server_url, viewport={"width": 1280, "height": 900})
                context.set_default_timeout(15_000)
                axe_inject(context)
                pages[audience] = context.new_page()
            pages["creator"].context.add_cookies([data["cookie"] | {"url": live_server_url}])
            yield Tour(**pages, urls=data["urls"], error_pages=error_pages)
            browser.close()
    finally:
        monkeypatch.undo()
        # What a transactional test does after itself: empty every table, and the queue of the take left queued.
        purge_test_queue()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)
            connection.close()


def settled(page) -> None:
    """The page is loaded and, where it is live, connected, with what its connection re-fetches in."""
    page.wait_for_load_state("networkidle")
    if page.locator(".live-root").count():
        expect(page.locator(".live-root").first).to_have_attribute("data-live", "open")
        page.wait_for_load_state("networkidle")


CREATOR_PAGES = ["projects", "new project", "storyboard", "new shot", "shot", "shot approved", "shot awaiting review",
                 "render final", "credits", "receipt", "webhooks", "webhook", "cut", "review hub", "shot import", "compare"]


@pytest.mark.django_db  # no database use; the mark has pytest-django create the test database the tour needs
def test_the_tour_visits_every_page_template():
    """A new page template fails here until it is on the tour below."""
    templates = Path(settings.BASE_DIR) / "templates"
    pages = {str(path.relative_to(templates)) for path in templates.rglob("*.html")
             if "{% extends" in path.read_text() and not path.name.startswith("_") and "admin" not in path.parts}
    assert pages == set(PAGE_TEMPLATES)
    visited = {"login", "signup", "review", "webhook secret", "404", "413", "503", *CREATOR_PAGES}
    assert set(PAGE_TEMPLATES.values()) <= visited


@pytest.mark.parametrize("name", ["login", "signup"])
def test_the_sign_in_pages_pass_axe(tour, name):
    tour.visitor.goto(f"/{name}/")
    settled(tour.visitor)
    assert_accessible(tour.visitor, name)


@pytest.mark.parametrize("name", CREATOR_PAGES)
def test_the_creator_pages_pass_axe(tour, name):
    tour.creator.goto(tour.urls[name])
    settled(tour.creator)
    assert_accessible(tour.creator, name)


def test_the_webhook_secret_page_passes_axe(tour):
    """Shown once, as the answer to adding an endpoint."""
    page = tour.creator
    page.goto(tour.urls["webhooks"])
    page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/second")
    page.get_by_label("take.ready").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_label("Signing secret")).to_contain_text("whsec_")
    assert_accessible(page, "webhook secret")


def test_the_review_page_passes_axe_before_and_after_the_reviewer_gives_a_name(tour):
    page = tour.reviewer
    page.goto(tour.urls["review"])
    settled(page)
    assert_accessible(page, "review page, asking for a name")
    page.get_by_label("Your name").fill("Rosa")
    page.get_by_role("button", name="Start reviewing").click()
    expect(page.locator(".reviewer-chip")).to_contain_text("Rosa")
    settled(page)
    assert_accessible(page, "review page, reviewing")


@pytest.mark.parametrize("name", ["404", "413", "503"])
def test_the_error_pages_pass_axe(tour, name, live_server_url):
    """Each production answer is served at a URL of the test server, so its stylesheet loads from there."""
    status, html = tour.error_pages[name]
    url = urljoin(live_server_url, f"/__error-page-{name}/")
    page = tour.visitor
    page.route(url, lambda route: route.fulfill(status=status, content_type="text/html; charset=utf-8", body=html))
    try:
        response = page.goto(url)
        assert response.status == status
        expect(page.locator("h1")).to_be_visible()
        assert_accessible(page, f"error page {name}")
    finally:
        page.unroute(url)
