"""One click on the storyboard starts a production run; the shots go live to a scored final.

Its own daphne, worker and beat, pointed at Runway's emulator with the draft quality floor on:
drafts on Gen-4.5 Turbo, finals on Gen-4.5 Aleph; beat advances the run as in production.
"""

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from providers.emulators.sandbox import emulator_create
from studio.models import ProductionRun
from studio.run_states import RunShotState, RunState
from tests.conftest import purge_test_queue
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_csp_pages import session_cookie
from tests.factories import creator_create, project_for, shot_for
from tests.stack import celery_beat, celery_worker, daphne_server

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

FINALS_TIMEOUT_MS = 180_000


@pytest.fixture
def chromium():
    """A browser without the suite's shared worker (tests/e2e/conftest.py's `browser` starts one): a
    worker without the emulator's address would take this stack's tasks and fail them."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the test's blocking ORM calls beside Playwright's loop
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def sandbox_stack(catalog, tmp_path):
    with emulator_create("runway", latency_seconds=0.5) as emulator:
        env = {"PROVIDER_SANDBOX_URLS": json.dumps({"runway": emulator.url}), "DRAFT_QUALITY_FLOOR": "60"}
        purge_test_queue()
        with daphne_server(tmp_path / "daphne.log", **env) as url, \
                celery_worker(tmp_path / "worker.log", name="runs", **env), celery_beat(tmp_path / "beat.log", **env):
            yield url


def test_one_click_runs_the_storyboard_to_scored_finals_live(sandbox_stack, chromium, screenshots):
    creator = creator_create(username="rui", credits=1000)
    project = project_for(creator, name="Neon Night Market")
    project.score_threshold = 30  # the emulator's clips score about 40: little motion, no prompt model
    project.save(update_fields=["score_threshold"])
    for title in ("Lantern seller", "Steam rising"):
        shot_for(project, title=title, duration_seconds=2)
    context = chromium.new_context(base_url=sandbox_stack, viewport={"width": 1440, "height": 1100})
    context.set_default_timeout(30_000)
    context.add_cookies([session_cookie(creator, sandbox_stack)])
    page = context.new_page()

    page.goto(f"/projects/{project.pk}/")
    panel = page.locator("#production-run")
    expect(panel.locator("#run-start")).to_contain_text("Start production run")
    expect(panel.locator(".forecast-expected")).to_be_visible()
    page.screenshot(path=screenshots / "run-01-forecast.png", full_page=True)

    panel.locator("#run-start").click()
    expect(panel.locator(".run-step").first).to_be_visible()
    expect(panel).to_have_attribute("data-run-state", "running")
    page.screenshot(path=screenshots / "run-02-drafting.png", full_page=True)
    # No reload from here on: every step arrives over the websocket.
    expect(panel).to_have_attribute("data-run-state", "completed", timeout=FINALS_TIMEOUT_MS)
    page.screenshot(path=screenshots / "run-03-finals.png", full_page=True)
    shots = list(ProductionRun.objects.get(project=project).shots.values_list("state", "reason"))
    assert {state for state, _ in shots} == {RunShotState.FINAL_READY}, shots
    expect(panel.locator(".run-step[data-tone='done']")).to_have_count(2)
    expect(panel.locator(".run-spent")).not_to_have_text("0 credits")
    page.screenshot(path=screenshots / "run-03-finals.png", full_page=True)

    run = ProductionRun.objects.get(project=project)
    assert run.state == RunState.COMPLETED
    assert set(run.shots.values_list("state", flat=True)) == {RunShotState.FINAL_READY}
    context.close()
