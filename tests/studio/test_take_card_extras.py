"""The take card explains routing, marks sandbox takes, and can cancel a working take."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import CreditAccount, Plan
from billing.services import credit_account_plan_set
from jobs.models import Attempt, Take
from jobs.pipeline.settle import take_fail
from jobs.pipeline.transitions import take_note, take_transition
from jobs.states import TakeState
from studio.live import take_changed_messages
from studio.selectors import shot_takes
from studio.services.takes import shot_take_request, shot_takes_request_best_of

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


# --- A list of cards costs the same queries whatever its length ---------------------------------


@pytest.fixture
def busy_creator(creator):
    """A creator whose plan lets a dozen takes run at once."""
    credit_account_plan_set(user=creator, plan=Plan.objects.get(slug="studio"))
    return creator


def _made_ready(take: Take, score: float) -> Take:
    """A ready take with an evaluation score, without rendering (the prompt cache's queued → ready move)."""
    return take_transition(take_id=take.pk, to_state=TakeState.READY, progress=100, evaluation={"aggregate": score})


def _refused(take: Take) -> Take:
    Attempt.objects.create(take=take, number=1, provider_model=take.provider_model, state=Attempt.State.FAILED,
                           error_kind="ContentPolicyRejected", error_message="The vendor refused the prompt.")
    take_fail(take_id=take.pk, reason="Refused under the provider's content policy.")
    return Take.objects.get(pk=take.pk)


def _working_with_note(creator, shot, note: str) -> Take:
    take = shot_take_request(user=creator, shot=shot, fresh=True)
    take_note(take, note)
    return take


def test_the_shot_page_query_count_does_not_grow_with_takes(catalog, creator_client, busy_creator, shot):
    creator = busy_creator
    url = reverse("shot-detail", args=[shot.pk])
    _working_with_note(creator, shot, "throttled: waiting for a free slot")
    creator_client.get(url)  # the session's first touch is not counted
    with CaptureQueriesContext(connection) as one:
        assert creator_client.get(url).status_code == 200

    first, second, third = shot_takes_request_best_of(user=creator, shot=shot, count=3, fresh=True)
    _made_ready(first, 60.0), _made_ready(second, 80.0)  # the third still renders
    fourth, fifth = shot_takes_request_best_of(user=creator, shot=shot, count=2, fresh=True)
    _made_ready(fourth, 70.0), _made_ready(fifth, 70.0)  # equal scores: the earlier take is best
    refused = [_refused(shot_take_request(user=creator, shot=shot, fresh=True)) for _ in range(2)]
    take_fail(take_id=shot_take_request(user=creator, shot=shot, fresh=True).pk, reason="The provider failed.")
    noted = [_working_with_note(creator, shot, f"re-routed from provider {n}") for n in range(2)]
    shot_take_request(user=creator, shot=shot, fresh=True)  # working, nothing said yet
    with CaptureQueriesContext(connection) as twelve:
        html = creator_client.get(url).content.decode()

    assert html.count('class="take-card') == Take.objects.filter(shot=shot).count() == 12
    assert len(twelve.captured_queries) == len(one.captured_queries)
    assert html.count("★ Best of 3") == 1 and "#2 of 3" in html and html.count("★ Best of 2") == 1 and "#2 of 2" in html
    assert html.count("Try another provider…") == 2 and "Re-routed from provider 1" in html
    best_of_two = re.search(rf'<article id="take-{fourth.pk}".*?</article>', html, re.S).group(0)
    assert "★ Best of 2" in best_of_two
    for take in shot_takes(shot=shot):  # what the annotations say is what the properties would query
        plain = Take.objects.get(pk=take.pk)
        assert (take.refused_by_policy, take.best_of_standing, take.latest_note) == (
            plain.refused_by_policy, plain.best_of_standing, plain.latest_note)
    assert {take.pk for take in shot_takes(shot=shot) if take.refused_by_policy} == {take.pk for take in refused}
    assert [take.latest_note for take in shot_takes(shot=shot) if take.pk in {n.pk for n in noted}] == [
        "re-routed from provider 1", "re-routed from provider 0"]


def test_the_take_list_partial_and_the_live_card_use_the_annotations(catalog, creator_client, busy_creator, shot,
                                                                      django_assert_num_queries):
    creator = busy_creator
    _refused(shot_take_request(user=creator, shot=shot, fresh=True))
    url = reverse("shot-takes", args=[shot.pk])
    creator_client.get(url, HTTP_HX_REQUEST="true")
    with CaptureQueriesContext(connection) as one:
        creator_client.get(url, HTTP_HX_REQUEST="true")
    take = _working_with_note(creator, shot, "throttled: waiting")
    for _ in range(3):
        _refused(shot_take_request(user=creator, shot=shot, fresh=True))
    with CaptureQueriesContext(connection) as five:
        html = creator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert len(five.captured_queries) == len(one.captured_queries)
    assert html.count("Try another provider…") == 4 and "Throttled: waiting" in html

    with django_assert_num_queries(4):  # the take with its annotations and project; its storyboard card's shot, its drafts; whether a run is under way
        [(group, message)] = take_changed_messages(take.pk)
    assert group == shot.project.notify_group and "Throttled: waiting" in message["html"]
