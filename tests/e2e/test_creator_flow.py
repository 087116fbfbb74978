"""A creator's first session, end to end: real browser, real daphne, real Celery worker, real renderer."""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from jobs.models import Take
from studio.models import Shot
from tests.factories import creator_create, project_for, shot_for

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 90_000


def test_sign_up_to_approved_shot_with_live_updates(catalog, live_server_url, worker, page, screenshots):
    # Sign up: starter credits show in the header.
    page.goto("/signup/")
    page.screenshot(path=screenshots / "01-signup.png", full_page=True)
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill("a-long-and-unusual-pass")
    page.get_by_label("Password confirmation").fill("a-long-and-unusual-pass")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_server_url}/")
    expect(page.locator("#credit-balance")).to_contain_text(f"{settings.STARTER_CREDITS} credits")
    expect(page.get_by_text("No projects yet — create your first")).to_be_visible()
    page.screenshot(path=screenshots / "02-projects-empty.png", full_page=True)

    # Create a project from the empty state.
    page.get_by_label("Project name").fill("Night market")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Night market", level=1)).to_be_visible()
    expect(page.get_by_text("No shots yet — add the first shot")).to_be_visible()

    # Add a short shot.
    page.get_by_role("link", name="Add shot", exact=True).click()
    page.get_by_label("Title").fill("Opening")
    page.get_by_label("Subject").fill("A lantern seller under neon signs")
    page.get_by_label("Camera move").select_option("dolly_in")
    page.get_by_label("Duration (seconds)").fill("2")
    page.get_by_role("button", name="Add shot").click()
    expect(page.get_by_role("heading", name="Opening", level=1)).to_be_visible()
    expect(page.locator("#generate-panel")).to_contain_text("Draft on Animatic (local):")
    shot = Shot.objects.get(title="Opening")

    # Wait for the live connection, mark the page, then double-click Generate: exactly one take.
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    page.evaluate("window.__marker = 1")
    page.get_by_role("button", name="Generate draft").dblclick()
    cards = page.locator(".take-card")
    expect(cards).to_have_count(1)

    # The take moves to ready on the page through the websocket, with no reload.
    card = cards.first
    expect(card.locator(".badge-state")).to_have_attribute("data-state", "ready", timeout=RENDER_TIMEOUT_MS)
    expect(card.locator("video")).to_have_attribute("poster", re.compile(r"/media/takes/draft/.+"))
    expect(card).to_contain_text("Why this provider")
    expect(card).to_contain_text("quality checks")
    assert page.evaluate("window.__marker") == 1, "the page navigated or reloaded"
    take = Take.objects.get(shot=shot)
    assert take.state == "ready"
    expect(cards).to_have_count(1)
    expect(page.locator("#credit-balance")).to_contain_text(f"{settings.STARTER_CREDITS - take.price_credits} credits")
    page.screenshot(path=screenshots / "03-shot-ready-take.png", full_page=True)

    # Approve it.
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(f"#take-{take.pk}")).to_have_attribute("data-review", "approved")
    take.refresh_from_db()
    assert take.review == "approved"

    # A reconnecting page re-fetches its takes: drop the card, reconnect, and it comes back current.
    with page.expect_response(re.compile(rf"/shots/{shot.pk}/takes/list/$")):
        page.evaluate("""() => {
            document.getElementById('take-%d').remove();
            document.querySelector('[ws-connect]')['htmx-internal-data'].webSocket.init();
        }""" % take.pk)
    expect(page.locator(f"#take-{take.pk}")).to_have_attribute("data-review", "approved")
    assert page.evaluate("window.__marker") == 1

    # The storyboard shows the shot approved, with the take's thumbnail.
    page.get_by_role("link", name="Back to storyboard").click()
    shot_card = page.locator(f"#shot-{shot.pk}")
    expect(shot_card).to_have_attribute("data-approved", "true")
    expect(shot_card.get_by_text("Approved")).to_be_visible()
    expect(shot_card.locator("img")).to_have_attribute("src", re.compile(r"/media/takes/draft/.+"))
    expect(shot_card).to_contain_text("1 take")
    page.screenshot(path=screenshots / "04-storyboard-approved.png", full_page=True)

    assert page.errors == []


@pytest.fixture
def two_shots(catalog) -> list[Shot]:
    """A creator "mo" with a project of two shots, made before the browser fixture starts its event
    loop in this thread (the services publish to Channels through async_to_sync on commit)."""
    project = project_for(creator_create(username="mo"))
    return [shot_for(project, title="Opening"), shot_for(project, title="The stall", camera="pan_right")]


@pytest.fixture
def logged_in_cookie(two_shots) -> dict:
    """The session cookie of the shots' creator (daphne runs the production password hashers, so
    a test user's fast test hash cannot log in through the form)."""
    client = Client()
    client.force_login(two_shots[0].project.owner)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
}


def test_draft_the_storyboard_then_best_of_two_with_the_best_marked_live(two_shots, logged_in_cookie, live_server_url,
                                                                         worker, page, screenshots):
    shots, project = two_shots, two_shots[0].project
    page.context.add_cookies([logged_in_cookie | {"url": live_server_url}])

    # The storyboard prices a draft of every shot before anything runs, then renders them live.
    page.goto(f"/projects/{project.pk}/")
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    bar = page.locator("#storyboard-drafts")
    expect(bar).to_contain_text("2 shots without a draft")
    bar.get_by_role("button", name=re.compile(r"^Draft 2 shots · \d+ credits$")).click()
    for shot in shots:
        expect(page.locator(f"#shot-{shot.pk} .shot-status")).to_have_attribute("data-status", "ready",
                                                                                 timeout=RENDER_TIMEOUT_MS)
    expect(bar).to_contain_text("Every shot has a draft")
    page.screenshot(path=screenshots / "05-storyboard-drafted.png", full_page=True)

    # Best of 2 on one shot: two new cards, and once both are scored one is marked best.
    page.locator(f"#shot-{shots[0].pk} a").click()
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    page.get_by_label("Several variations at once").select_option("2")
    page.locator("form.best-of").get_by_role("button", name="Generate").click()
    cards = page.locator(".take-card")
    expect(cards).to_have_count(3)
    for index in range(3):
        expect(cards.nth(index).locator(".badge-state")).to_have_attribute("data-state", "ready",
                                                                           timeout=RENDER_TIMEOUT_MS)
    expect(page.locator(".badge-best")).to_have_count(1)
    expect(page.locator(".badge-best")).to_have_text("★ Best of 2")
    batch = Take.objects.filter(shot=shots[0], origin="best_of")
    assert batch.count() == 2 and len({take.batch for take in batch}) == 1
    page.screenshot(path=screenshots / "06-best-of-two.png", full_page=True)

    # Side by side: the two variations play in sync under one control.
    for take in batch:
        page.locator(f"#take-{take.pk} .take-compare-pick input").check()
    page.get_by_role("button", name="Compare selected").click()
    videos = page.locator("[data-compare-video]")
    expect(videos).to_have_count(2)
    until(page, "() => [...document.querySelectorAll('[data-compare-video]')].every(v => v.readyState >= 1)")
    page.locator("[data-compare-seek]").fill("500")  # halfway through
    until(page, "() => [...document.querySelectorAll('[data-compare-video]')].every(v => !v.seeking)")
    times = videos.evaluate_all("vs => vs.map(v => v.currentTime)")
    assert times[0] > 0 and abs(times[0] - times[1]) < 0.1, times
    page.get_by_role("button", name="Play all").click()
    until(page, "() => document.querySelector('[data-compare-video]').currentTime > %f" % (times[0] + 0.3))
    page.get_by_role("button", name="Pause all").click()
    playing = videos.evaluate_all("vs => vs.map(v => [v.paused, v.currentTime])")
    assert all(paused for paused, _ in playing) and abs(playing[0][1] - playing[1][1]) < 0.15, playing
    page.screenshot(path=screenshots / "07-compare.png", full_page=True)
    assert page.errors == []


def until(page, predicate: str, timeout_ms: int = 10_000) -> None:
    """Poll a predicate through page.evaluate (wait_for_function evals in the page, which the CSP forbids)."""
    for _ in range(timeout_ms // 50):
        if page.evaluate(predicate):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"not true within {timeout_ms} ms: {predicate}")
