"""A stale approval shows everywhere the approval does: the storyboard card (cached and live) and the JSON API."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.models import Take
from studio.models import Shot
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import take_approve
from tests.factories import shot_for
from tests.studio.test_approvals import _api_key
from tests.studio.test_take_compare import ready_take
from tests.studio.test_views import png_upload

pytestmark = pytest.mark.django_db


def fresh(shot: Shot) -> Shot:
    return Shot.objects.select_related("project").get(pk=shot.pk)


@pytest.fixture
def approved_draft(catalog, creator, shot):
    """Approved by hand-made readiness: these tests read rows, not videos."""
    return take_approve(take=ready_take(creator, shot, score=80.0, price=30, defects=[]))


def test_the_storyboard_card_shows_a_stale_approval_and_a_new_reference_image_refreshes_it(creator_client, project, shot,
                                                                                         approved_draft):
    url = reverse("project-detail", args=[project.pk])
    assert 'data-approval="current"' in creator_client.get(url).content.decode()
    mei = character_create(project=project, name="Mei")
    shot_update(shot=fresh(shot), characters=[mei])
    take_approve(take=Take.objects.get(pk=approved_draft.pk))  # approved again, for the shot with Mei
    assert 'data-approval="current"' in creator_client.get(url).content.decode()

    character_image_add(character=mei, upload=png_upload())  # the shot row is untouched; its cached card is not reused

    html = creator_client.get(url).content.decode()
    assert 'data-approval="stale"' in html and "Approval stale" in html


def test_the_live_storyboard_card_says_stale_too(shot, approved_draft):
    from studio.live import take_changed_messages

    shot_update(shot=fresh(shot), subject="A fishmonger under neon signs")
    html = take_changed_messages(approved_draft.pk)[0][1]["html"]
    assert html.count('data-approval="stale"') == 2  # the take's card and the shot's storyboard card


def test_the_api_says_which_approvals_are_stale_in_constant_queries(creator, project, shot, approved_draft):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {_api_key(creator)}")
    assert api.get(f"/api/shots/{shot.pk}").json()["approval_stale"] is False
    assert api.get(f"/api/takes/{approved_draft.pk}").json()["approval_stale"] is False

    shot_update(shot=fresh(shot), duration_seconds=3)
    second = shot_for(project, title="Stall")

    assert api.get(f"/api/shots/{shot.pk}").json()["approval_stale"] is True
    assert api.get(f"/api/takes/{approved_draft.pk}").json()["approval_stale"] is True
    assert [take["approval_stale"] for take in api.get(f"/api/shots/{shot.pk}/takes").json()["items"]] == [True]
    with CaptureQueriesContext(connection) as two:
        listed = api.get(f"/api/projects/{project.pk}/shots").json()["items"]
    assert {item["id"]: item["approval_stale"] for item in listed} == {shot.pk: True, second.pk: False}
    for number in range(3):  # the free plan holds at most 5 open takes
        take_approve(take=ready_take(creator, shot_for(project, title=f"S{number}"), score=70.0, price=30, defects=[]))
    with CaptureQueriesContext(connection) as five:
        assert len(api.get(f"/api/projects/{project.pk}/shots").json()["items"]) == 5
    assert len(five) == len(two)
