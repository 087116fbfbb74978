"""The pages need nothing a strict Content-Security-Policy forbids: no inline scripts, no
event-handler attributes, no style attributes, nothing from another origin."""

import re

import pytest
from django.urls import reverse

from studio.services.projects import project_budget_set
from studio.services.takes import shot_take_request
from tests.jobs.test_pipeline import take_made_ready

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)
OTHER_ORIGIN = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.I)


@pytest.fixture
def ready_take(catalog, creator, shot):
    return take_made_ready(shot_take_request(user=creator, shot=shot, idempotency_key="csp"))


@pytest.fixture
def page_urls(ready_take, project, creator):
    project_budget_set(user=creator, project=project, cap_credits=1000)
    return [reverse("project-list"), reverse("project-detail", args=[project.pk]),
            reverse("shot-detail", args=[ready_take.shot_id]), reverse("shot-create", args=[project.pk]),
            reverse("project-create"), reverse("credits")]


def test_pages_need_nothing_the_policy_forbids(creator_client, page_urls):
    pages = {url: creator_client.get(url).content.decode() for url in page_urls}
    creator_client.logout()
    pages |= {url: creator_client.get(url).content.decode() for url in (reverse("login"), reverse("signup"))}
    for url, html in pages.items():
        assert "<h1" in html, url
        for forbidden in (INLINE_SCRIPT, EVENT_HANDLER, STYLE_ATTRIBUTE, OTHER_ORIGIN):
            assert not forbidden.search(html), f"{url}: {forbidden.search(html).group(0)}"


def test_bars_carry_their_length_as_data_not_as_style(creator_client, page_urls):
    credits_page = creator_client.get(reverse("credits")).content.decode()
    storyboard = creator_client.get(page_urls[1]).content.decode()

    assert re.search(r'class="spend-day"[^>]* data-percent="100"', credits_page)
    assert re.search(r'class="spend-provider-fill" data-percent="100"', credits_page)
    assert re.search(r'class="budget-fill" data-percent="\d+"', storyboard)
