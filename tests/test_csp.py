"""Every response carries a strict Content-Security-Policy, and the pages need nothing it forbids:
no inline scripts, no event-handler attributes, no style attributes, nothing from another origin.

The browser test (tests/e2e/test_csp_pages.py) checks that the pages still work under it.
"""

import re

import pytest
from django.urls import path, reverse

from studio.services.projects import project_budget_set
from studio.services.takes import shot_take_request
from studio.services.tokens import api_token_create
from tests.jobs.test_pipeline import take_made_ready

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)
OTHER_ORIGIN = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.I)


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


@pytest.fixture
def ready_take(catalog, creator, shot):
    return take_made_ready(shot_take_request(user=creator, shot=shot, idempotency_key="csp"))


@pytest.fixture
def page_urls(ready_take, project, creator):
    project_budget_set(user=creator, project=project, cap_credits=1000)
    return [reverse("project-list"), reverse("project-detail", args=[project.pk]),
            reverse("shot-detail", args=[ready_take.shot_id]), reverse("shot-create", args=[project.pk]),
            reverse("project-create"), reverse("credits")]


def test_pages_carry_the_strict_policy(creator_client, page_urls):
    for url in page_urls:
        policy = policy_of(creator_client.get(url))
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"]  # 'self' covers the page's own ws:/wss: (CSP Level 3)
        assert policy["img-src"] == ["'self'"] and policy["media-src"] == ["'self'"]
        assert (policy["object-src"], policy["frame-ancestors"]) == (["'none'"], ["'none'"])
        assert (policy["base-uri"], policy["form-action"]) == (["'self'"], ["'self'"])


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


def test_the_api_answers_carry_the_policy(creator, client):
    _, key = api_token_create(user=creator, name="csp")

    response = client.get("/api/projects", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200 and policy_of(response)["frame-ancestors"] == ["'none'"]


def test_the_api_docs_are_served_from_our_own_static_files(client):
    response = client.get("/api/docs")
    html = response.content.decode()

    assert response.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in html and not OTHER_ORIGIN.search(html)
    assert not INLINE_SCRIPT.search(html)
    policy = policy_of(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]  # Swagger UI's stylesheet draws its icons as data: images


def test_admin_pages_carry_the_policy(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200 and policy_of(response)["script-src"] == ["'self'"]


def broken_view(request):
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken_view)]


@pytest.mark.urls(__name__)
def test_a_server_error_page_carries_the_policy(client):
    client.raise_request_exception = False

    response = client.get("/broken/")

    assert response.status_code == 500 and policy_of(response)["script-src"] == ["'self'"]


@pytest.mark.urls(__name__)
def test_djangos_debug_page_is_left_without_the_policy(client, settings):
    settings.DEBUG = True  # its inline styles and scripts are the page
    client.raise_request_exception = False

    response = client.get("/broken/")

    assert response.status_code == 500 and "Content-Security-Policy" not in response
