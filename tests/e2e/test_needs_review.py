"""A take the safety check is unsure about, end to end in the browser: real Chromium, daphne, Celery
worker, animatic renderer and NudeNet. The worker treats FACE_FEMALE as a doubtful-only label
(EVALUATION_SAFETY_THRESHOLDS: review at 0.3, block at 0.99), and the shot's character is
scikit-image's public-domain astronaut photo, so the detector's real, confident face detection
stands in for a doubtful flag without any explicit image."""

import json

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from billing.models import LedgerEntry
from jobs.models import Take, TakeDecision
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from tests.conftest import purge_test_queue
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_needs_review_pipeline import astronaut_upload
from tests.stack import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 120_000


@pytest.fixture
def worker(django_db_setup, tmp_path):
    """The stack's worker, with the doubtful-only label configured as ops would."""
    purge_test_queue()
    thresholds = json.dumps({"FACE_FEMALE": [0.3, 0.99]})
    with celery_worker(tmp_path / "worker.log", EVALUATION_SAFETY_THRESHOLDS=thresholds) as process:
        yield process
    purge_test_queue()


@pytest.fixture
def astronaut_shot(catalog):
    """Made before the browser starts its event loop in this thread (services publish on commit)."""
    project = project_for(creator_create(username="rey"))
    pilot = character_create(project=project, name="Pilot")
    character_image_add(character=pilot, upload=astronaut_upload())
    shot = shot_for(project, title="Launch")
    shot_update(shot=shot, characters=[pilot])
    return shot


@pytest.fixture
def logged_in_cookie(astronaut_shot) -> dict:
    client = Client()
    client.force_login(astronaut_shot.project.owner)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_needs_review_is_shown_on_the_card_and_approving_it_leaves_the_ledger_alone(
    astronaut_shot, logged_in_cookie, live_server_url, worker, page, screenshots,
):  # fmt: skip
    page.context.add_cookies([logged_in_cookie | {"url": live_server_url}])
    page.goto(f"/shots/{astronaut_shot.pk}/")
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    page.get_by_role("button", name="Generate draft").click()

    card = page.locator(".take-card")
    expect(card).to_have_count(1)
    expect(card.locator(".badge-state")).to_have_attribute("data-state", "ready", timeout=RENDER_TIMEOUT_MS)
    expect(card.locator(".badge-needs-review")).to_have_text("⚠ Needs your review")
    note = card.locator('[data-outcome="needs_review"]')
    expect(note).to_contain_text("Needs your review before you use it")
    expect(note).to_contain_text("the safety check was unsure (FACE_FEMALE")
    expect(note).to_contain_text("it is not regenerated or refunded")
    expect(card.locator(".take-checks summary")).to_contain_text("Passed")  # the doubtful flag is no defect
    take = Take.objects.get(shot=astronaut_shot)
    assert take.evaluation["outcome"] == "needs_review"
    assert not Take.objects.filter(source_take=take).exists()
    ledger = list(LedgerEntry.objects.order_by("id").values_list("id", "kind", "amount", "held"))
    assert [entry[1] for entry in ledger][-2:] == ["reserve", "capture"]  # charged as rendered, no refund
    page.screenshot(path=screenshots / "needs-review-card.png", full_page=True)

    card.get_by_role("button", name="Approve").click()

    expect(page.locator(f"#take-{take.pk}")).to_have_attribute("data-review", "approved")
    expect(note).to_contain_text("You approved it after review")
    expect(card.locator(".badge-needs-review")).to_have_count(0)
    page.screenshot(path=screenshots / "needs-review-approved.png", full_page=True)
    take.refresh_from_db()
    assert take.review == "approved"
    assert list(LedgerEntry.objects.order_by("id").values_list("id", "kind", "amount", "held")) == ledger
    assert list(TakeDecision.objects.filter(take=take).values_list("decision", "outcome")) == [("approved", "needs_review")]
    assert page.errors == []
