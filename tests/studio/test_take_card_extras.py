"""The take card explains routing, marks sandbox takes, and can cancel a working take."""

import pytest
from django.urls import reverse

from billing.models import CreditAccount
from jobs.models import Take
from studio.services.takes import shot_take_request

pytestmark = pytest.mark.django_db


def test_a_working_take_can_be_cancelled_from_its_card(catalog, creator_client, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    page = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    assert "Cancel take" in page
    response = creator_client.post(reverse("take-cancel", args=[take.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-state="cancelled"' in response.content.decode()
    assert Take.objects.get(pk=take.pk).state == "cancelled"
    assert CreditAccount.objects.get(user=creator).available == 500


def test_cancelling_a_finished_take_says_why_and_changes_nothing(catalog, creator_client, creator, shot):
    from tests.jobs.test_pipeline import take_run_and_evaluate

    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    response = creator_client.post(reverse("take-cancel", args=[take.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "can no longer be cancelled" in response.content.decode()
    assert Take.objects.get(pk=take.pk).state == "ready"


def test_another_creators_take_cannot_be_cancelled(catalog, client, creator, shot):
    from tests.factories import creator_create

    take = shot_take_request(user=creator, shot=shot)
    client.force_login(creator_create(username="mallory"))
    assert client.post(reverse("take-cancel", args=[take.pk])).status_code == 404
    assert Take.objects.get(pk=take.pk).state == "queued"


def test_the_card_shows_the_plan_and_marks_sandbox_takes(catalog, creator_client, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    Take.objects.filter(pk=take.pk).update(sandbox=True)
    page = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    assert "The whole plan" in page and "left out: not configured" in page
    assert "Sandbox" in page


def test_a_ready_take_shows_its_score_breakdown(catalog, creator_client, creator, shot):
    from tests.jobs.test_pipeline import take_run_and_evaluate

    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    page = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    assert "Score breakdown" in page
    assert "Sharpness" in page and "Motion smoothness" in page
    assert "unavailable: " in page  # no CLIP model here: alignment says why, and invents nothing


def test_a_low_balance_is_flagged_in_the_header_and_the_api(client, catalog, settings):
    from billing.models import CreditAccount
    from studio.services.tokens import api_token_create
    from tests.factories import creator_create

    settings.BILLING_LOW_BALANCE_CREDITS = 100
    rich, poor = creator_create(username="rich", credits=500), creator_create(username="poor", credits=40)
    client.force_login(poor)
    assert "Low · top up" in client.get(reverse("project-list")).content.decode()
    client.force_login(rich)
    assert "Low · top up" not in client.get(reverse("project-list")).content.decode()
    _, key = api_token_create(user=poor, name="t")
    assert client.get("/api/credits", headers={"Authorization": f"Bearer {key}"}).json()["low_balance"] is True
    assert CreditAccount.objects.get(user=rich).is_low is False
