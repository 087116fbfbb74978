"""The cut in a real browser: trim a shot, render on the worker with live progress, play, download."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.cuts.conftest import approved_take
from tests.cuts.media import clip_write, video_facts
from tests.factories import creator_create, project_for, shot_for

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 120_000


@pytest.fixture
def cut_project(tmp_path):
    project = project_for(creator_create(username="edie"))
    for title, size, fps, rgb in (("Arrival", (640, 360), 24, (200, 60, 40)), ("Stall", (360, 360), 30, (40, 160, 90))):
        approved_take(shot_for(project, title=title), clip_write(tmp_path / f"{title}.mp4", size=size, fps=fps,
                                                                 seconds=2, rgb=rgb))
    return project


def logged_in(page, user, live_server_url):
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server_url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])


def test_trim_render_play_and_download(cut_project, live_server_url, page, screenshots, tmp_path):
    logged_in(page, cut_project.owner, live_server_url)
    page.goto(f"/projects/{cut_project.pk}/")
    page.get_by_role("link", name="Rough cut").click()
    expect(page.get_by_role("heading", name=cut_project.name, level=1)).to_be_visible()
    shots = page.locator(".cut-shot")
    expect(shots).to_have_count(2)
    expect(shots.first.locator(".cut-tier")).to_have_text("Draft")

    # Drag the first shot's in handle to 0.5 s (a range input: set it as a drag would, with input events).
    first = shots.first
    first.locator(".cut-handle-in").evaluate(
        "h => { h.value = '0.5'; h.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(first.locator(".cut-trim-value[data-for='in']")).to_have_text("0.50 s")
    first.get_by_label("Voice-over").fill("Night falls.")
    first.get_by_role("button", name="Save shot").click()
    expect(page.get_by_text("“Arrival” updated.")).to_be_visible()
    expect(page.locator(".cut-shot").first.locator(".cut-line-fit")).to_contain_text("The line takes")
    entry = cut_project.cut.entries.get(shot__title="Arrival")
    assert (entry.in_ms, entry.line) == (500, "Night falls.")

    # Render: the panel follows the worker live, then offers the player and downloads.
    expect(page.locator(".live-root")).to_have_attribute("data-live", "open")
    page.get_by_role("button", name="Render cut").click()
    panel = page.locator(".cut-render-panel")
    expect(panel).to_have_attribute("data-render-state", "ready", timeout=RENDER_TIMEOUT_MS)
    player = page.locator("#cut-player")
    expect(player).to_be_visible()
    page.wait_for_function("() => document.querySelector('#cut-player').readyState >= 1", timeout=30_000)
    duration = player.evaluate("v => v.duration")
    assert abs(duration - 3.5) < 0.1  # 1.5 s + 2 s
    page.screenshot(path=screenshots / "cut-page.png", full_page=True)

    with page.expect_download() as download_info:
        panel.get_by_role("link", name="Download MP4").click()
    saved = tmp_path / "downloaded.mp4"
    download_info.value.save_as(saved)
    facts = video_facts(saved)
    assert facts["size"] == (1280, 720) and facts["frames"] == 84 and facts["has_audio"]
    assert not page.errors, page.errors
