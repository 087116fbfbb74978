"""A creator's first session, end to end: real browser, real daphne, real Celery worker, real renderer.
The shot is added, drafted and approved with the keyboard alone."""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from jobs.models import Take
from studio.models import Shot
from tests.e2e.axe import assert_accessible, axe_inject
from tests.factories import creator_create, project_for, shot_for

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 90_000


def tab_to(page, target, presses: int = 80) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would; fails when Tab never reaches it."""
    for _ in range(presses):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{presses} presses of Tab never reached {target}")


def keyboard_fill(page, field, text: str) -> None:
    tab_to(page, field)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def keyboard_activate(page, target) -> None:
    tab_to(page, target)
    page.keyboard.press("Enter")


def test_sign_up_to_approved_shot_with_live_updates(catalog, live_server_url, worker, page, screenshots):
    axe_inject(page.context)
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

    # Add a short shot and generate a draft with the keyboard alone: the first Tab reaches the skip link
    # (once the page has loaded: a Tab pressed while a busy machine still loads it may land nowhere).
    page.wait_for_load_state("load")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()
    keyboard_activate(page, page.get_by_role("link", name="Add shot", exact=True))
    keyboard_fill(page, page.get_by_label("Title"), "Opening")
    keyboard_fill(page, page.get_by_label("Subject"), "A lantern seller under neon signs")
    tab_to(page, page.get_by_label("Camera move"))
    page.keyboard.type("Dolly in")  # a closed select picks the option whose label is typed
    expect(page.get_by_label("Camera move")).to_have_value("dolly_in")
    keyboard_fill(page, page.get_by_label("Duration (seconds)"), "2")
    page.keyboard.press("Enter")  # submits the form from its text field
    expect(page.get_by_role("heading", name="Opening", level=1)).to_be_visible()
    expect(page.locator("#generate-panel")).to_contain_text("Draft on Animatic (local):")
    shot = Shot.objects.get(title="Opening")

    # Wait for the live connection, mark the page, then press Generate twice: exactly one take.
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    page.evaluate("window.__marker = 1")
    generate = page.get_by_role("button", name="Generate draft")
    tab_to(page, generate)
    assert generate.evaluate("button => getComputedStyle(button).outlineStyle") == "solid"  # focus is visible
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
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
    expect(page.locator("[data-live-announcer]")).to_have_text(f"Take {take.pk} is ready.")  # read out by screen readers
    page.screenshot(path=screenshots / "03-shot-ready-take.png", full_page=True)

    # Approve it from the keyboard.
    keyboard_activate(page, card.get_by_role("button", name="Approve"))
    expect(page.locator(f"#take-{take.pk}")).to_have_attribute("data-review", "approved")
    assert_accessible(page, "shot page with a live-updated, approved take")
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

    # Rearrange the shots from the keyboard, then by dragging; each order is saved and survives a reload.
    page.goto(f"/projects/{project.pk}/")
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    cards, ids = page.locator("#storyboard-shots .shot-card"), [f"shot-{shot.pk}" for shot in shots]
    page.locator(f"#{ids[0]} .shot-link").focus()
    with page.expect_response(re.compile(rf"/projects/{project.pk}/shots/order/$")):
        page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#shot-order-status")).to_have_text("Moved “Opening” to position 2 of 2.")
    expect(page.locator(f"#{ids[0]} .shot-link")).to_be_focused()
    page.reload()
    expect(cards.first).to_have_attribute("id", ids[1])
    expect(page.locator(f"#{ids[0]} .shot-number")).to_have_text("Shot 2")
    for panel in ("#storyboard-drafts", "#production-run"):  # loaded after the page: the cards move down once
        expect(page.locator(panel)).not_to_have_class(re.compile(r"\bis-loading\b"))
    with page.expect_response(re.compile(rf"/projects/{project.pk}/shots/order/$")):
        page.locator(f"#{ids[0]}").drag_to(page.locator(f"#{ids[1]}"))
    expect(page.locator("#shot-order-status")).to_have_text("Moved “Opening” to position 1 of 2.")
    page.reload()
    expect(cards.first).to_have_attribute("id", ids[0])
    assert list(Shot.objects.filter(project=project).order_by("position").values_list("title", flat=True)) == [
        "Opening", "The stall"]

    # The storyboard prices a draft of every shot before anything runs, then renders them live.
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

    # Keyboard shortcuts: never while typing; `?` lists them, Esc closes the list, j selects a take, a approves it.
    title = page.get_by_label("Title")
    title.focus()
    page.keyboard.press("End")
    page.keyboard.press("?")
    expect(title).to_have_value("Opening?")
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    title.blur()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Approve the selected take")
    page.screenshot(path=screenshots / "07-shortcuts.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".take-card.is-selected")).to_have_count(0)
    page.keyboard.press("j")
    expect(cards.first).to_have_class(re.compile(r"\bis-selected\b"))
    expect(cards.first).to_be_focused()
    page.keyboard.press("a")
    expect(cards.first).to_have_attribute("data-review", "approved")
    expect(cards.first).to_have_class(re.compile(r"\bis-selected\b"))  # still selected after the swap

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
    page.screenshot(path=screenshots / "08-compare.png", full_page=True)
    assert page.errors == []


def until(page, predicate: str, timeout_ms: int = 10_000) -> None:
    """Poll a predicate through page.evaluate (wait_for_function evals in the page, which the CSP forbids)."""
    for _ in range(timeout_ms // 50):
        if page.evaluate(predicate):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"not true within {timeout_ms} ms: {predicate}")
