"""The take card shows where the quality check found each defect, on a strip under the player."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from jobs.evaluation import evaluate_take_video
from jobs.models import Take
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_run_and_evaluate
from tests.jobs.video_corpus import HEIGHT, SECONDS, WIDTH, clean_clip, defective_clip

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cards(catalog, tmp_path):
    """A ready take whose clip fades through black, and a failed one that goes black: both evaluated for
    real (corpus clips), made before the browser fixture starts its event loop in this thread."""
    shot = shot_for(project_for(creator_create(username="ivy")), title="Night market")
    ready, failed = (take_run_and_evaluate(shot_take_request(user=shot.project.owner, shot=shot).pk) for _ in range(2))
    expected = {"expected_duration_seconds": SECONDS, "expected_width": WIDTH, "expected_height": HEIGHT}
    fading = evaluate_take_video(clean_clip(tmp_path, "fade", 2).path, **expected).as_dict()
    black = defective_clip(tmp_path, "black", "photo_pan", 3)
    going_black = evaluate_take_video(black.path, **expected)
    assert fading["passed"] and not going_black.passed
    Take.objects.filter(pk=ready.pk).update(evaluation=fading)
    Take.objects.filter(pk=failed.pk).update(state="failed", failure_reason=going_black.failure_reason,
                                             evaluation=going_black.as_dict())  # fmt: skip
    client = Client()
    client.force_login(shot.project.owner)
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
    return shot, ready, failed, black, cookie


def test_defects_show_on_the_timeline_with_their_time_ranges(cards, live_server_url, page, screenshots):
    shot, ready, failed, black, cookie = cards
    page.context.add_cookies([cookie | {"url": live_server_url}])

    page.goto(f"/shots/{shot.pk}/")

    failed_card = page.locator(f"#take-{failed.pk}")
    expect(failed_card.locator(".defect-mark.defect-black")).to_have_count(1)
    span = f"{black.start:.1f}–{black.end:.1f} s"
    expect(failed_card.locator(".defect-list")).to_contain_text(f"Black {span}")
    expect(failed_card.locator(".take-failure")).to_contain_text("goes black")
    ready_card = page.locator(f"#take-{ready.pk}")
    expect(ready_card.locator(".defect-notice")).to_contain_text("Fade")
    ready_card.locator(".take-scores summary").click()
    expect(ready_card.locator(".score-scale")).to_contain_text("20 and below")
    page.screenshot(path=screenshots / "defect-timeline.png", full_page=True)
    assert page.errors == []
