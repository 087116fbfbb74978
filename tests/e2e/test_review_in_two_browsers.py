"""Review with someone who has no account, in two real browsers on the real stack: the reviewer
comments on a moment of a take and asks for changes, the creator sees both arrive live, answers,
edits the shot, and the approval made before the edit shows as stale."""

import re
import time

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from studio.models import ReviewComment, ReviewDecision
from studio.services.review import share_link_create, share_link_token
from studio.services.takes import shot_take_request, take_approve
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_made_ready

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shared_project(catalog):
    """A creator "mo" whose 4-second shot has an approved, rendered take, and a review link to the
    project — all made before the browser fixture starts its event loop in this thread."""
    creator = creator_create(username="mo")
    project = project_for(creator, name="Neon Night Market")
    shot = shot_for(project, title="Opening", duration_seconds=4)
    take = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot, idempotency_key="e2e-review")))
    link = share_link_create(user=creator, project=project, label="Client — Acme")
    client = Client()
    client.force_login(creator)
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
    return {"project": project, "shot": shot, "take": take, "token": share_link_token(link=link), "cookie": cookie}


def poll_until(condition, timeout: float = 30.0) -> None:
    """Poll through evaluate: the CSP forbids the eval that Playwright's wait_for_function needs."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def browser_errors(page) -> list[str]:
    errors = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("console", lambda message: message.type == "error" and errors.append(f"console: {message.text}"))
    return errors


def test_a_reviewer_comments_at_a_moment_and_requests_changes_while_the_creator_watches_live(
        shared_project, live_server_url, worker, browser, page, screenshots):
    project, shot, take, token = (shared_project[key] for key in ("project", "shot", "take", "token"))

    # The creator has the project's review page open, connected live.
    page.context.add_cookies([shared_project["cookie"] | {"url": live_server_url}])
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    page.evaluate("window.__marker = 1")
    expect(page.locator(f"#decision-{ReviewDecision.objects.get().pk}")).to_contain_text("(you)")

    # The reviewer, in another browser with no account, opens the link and gives a name.
    reviewer_context = browser.new_context(base_url=live_server_url, viewport={"width": 1440, "height": 1000})
    reviewer_context.set_default_timeout(15_000)
    reviewer = reviewer_context.new_page()
    reviewer_errors = browser_errors(reviewer)
    reviewer.goto(f"/review/{token}/")
    expect(reviewer.get_by_role("heading", name="Neon Night Market", level=1)).to_be_visible()
    expect(reviewer.locator("body")).not_to_contain_text("credits")
    reviewer.get_by_label("Your name").fill("Rosa")
    reviewer.get_by_role("button", name="Start reviewing").click()
    expect(reviewer.locator(".reviewer-chip")).to_contain_text("Rosa")

    # A click halfway along the take's timeline pins the comment to 0:02 of the 4-second take.
    video_ready = f"document.getElementById('review-take-{take.pk}-video').readyState >= 1"
    poll_until(lambda: reviewer.evaluate(video_ready))  # its duration is known (metadata loaded)
    timeline = reviewer.locator(f'[data-review-timeline][data-take="{take.pk}"]')
    box = timeline.bounding_box()
    timeline.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    comments = reviewer.locator(f"#review-shot-{shot.pk}-comments")
    expect(comments.locator("[data-pin-label]")).to_have_text(f"At 0:02 in take #{take.pk}")
    assert abs(reviewer.evaluate(f"document.getElementById('review-take-{take.pk}-video').currentTime") - 2.0) < 0.25
    comments.get_by_label("Add a comment").fill("Hold on the lantern <longer> before the cut")
    comments.get_by_role("button", name="Comment").click()
    expect(comments.locator(".review-thread")).to_have_count(1)
    expect(comments.locator(".review-thread")).to_contain_text("Hold on the lantern <longer> before the cut")
    expect(comments.locator(".review-thread .timecode")).to_have_text("0:02")
    expect(reviewer.locator(f"#review-take-{take.pk}-markers .review-marker")).to_have_count(1)  # pinned on the timeline

    # …and asks for changes on the take.
    reviewer.locator(f"#review-take-{take.pk}").get_by_role("button", name="Request changes").click()
    expect(reviewer.locator(f"#review-take-{take.pk}-decision .review-verdict")).to_contain_text("Changes requested by Rosa")
    reviewer.screenshot(path=screenshots / "review-01-reviewer.png", full_page=True)

    # The creator sees both arrive, without reloading.
    comment = ReviewComment.objects.get()
    assert comment.take_id == take.pk and 1750 <= comment.at_ms <= 2250
    thread = page.locator(f"#thread-{comment.pk}")
    expect(thread).to_contain_text("Hold on the lantern <longer> before the cut")
    expect(thread.locator("[data-timecode]")).to_have_text("0:02")
    expect(thread).to_contain_text("Rosa")
    decision = ReviewDecision.objects.get(by_creator=False)
    row = page.locator(f"#decision-{decision.pk}")
    expect(row).to_contain_text("Changes requested")
    expect(row).to_contain_text("Rosa")
    expect(row).to_contain_text("Client — Acme")
    assert page.evaluate("window.__marker") == 1, "the creator's page reloaded"

    # The creator answers and resolves the thread.
    thread.get_by_label("Reply to Rosa").fill("Holding it a beat longer in the next draft.")
    thread.get_by_role("button", name="Reply").click()
    expect(page.locator(f"#thread-{comment.pk} .review-reply")).to_contain_text("Holding it a beat longer")
    page.locator(f"#thread-{comment.pk}").get_by_role("button", name="Resolve").click()
    expect(page.locator(f"#thread-{comment.pk}")).to_have_attribute("data-resolved", "true")
    page.screenshot(path=screenshots / "review-02-creator-live.png", full_page=True)

    # The creator edits the shot: the approval made before is now stale, on the shot page and in the log.
    page.goto(f"/shots/{shot.pk}/")
    page.get_by_label("Subject").fill("A lantern seller closes her stall at dawn")
    page.get_by_role("button", name="Save changes").click()
    card = page.locator(f"#take-{take.pk}")
    expect(card).to_have_attribute("data-approval", "stale")
    expect(card.get_by_role("button", name="Approve for the current shot")).to_be_visible()
    expect(card.get_by_role("link", name=re.compile("Render final"))).to_have_count(0)
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.locator(f"#decision-{ReviewDecision.objects.get(by_creator=True).pk}")).to_have_attribute("data-stale", "true")

    # The reviewer sees the answer when they come back.
    reviewer.reload()
    expect(reviewer.locator(f"#review-comment-{comment.pk}")).to_contain_text("Holding it a beat longer")
    expect(reviewer.locator(f"#review-comment-{comment.pk}")).to_contain_text("Resolved")

    assert page.errors == [] and reviewer_errors == []
    reviewer_context.close()
