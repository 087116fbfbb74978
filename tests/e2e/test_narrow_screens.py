"""Every creator page fits a phone (390 px): no sideways scroll; screenshots of each. One browser context for all."""

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import creator_create, project_for, shot_for

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def narrow(catalog):
    shot = shot_for(project_for(creator_create(username="nia")), title="Night market")
    client = Client()
    client.force_login(shot.project.owner)
    return shot, {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_creator_pages_fit_a_phone(narrow, browser, live_server_url, screenshots):
    shot, cookie = narrow
    context = browser.new_context(base_url=live_server_url, viewport={"width": 390, "height": 844})
    context.add_cookies([cookie | {"url": live_server_url}])
    page = context.new_page()
    widths = {}
    for name, url in [("storyboard", f"/projects/{shot.project_id}/"), ("shot", f"/shots/{shot.pk}/"),
                      ("credits", "/credits/"), ("review", f"/projects/{shot.project_id}/review/")]:
        page.goto(url)
        widths[name] = page.evaluate("document.scrollingElement.scrollWidth")
        page.screenshot(path=screenshots / f"390-{name}.png", full_page=True)
    context.close()
    assert all(width <= 390 for width in widths.values()), widths
