"""Takes over the JSON API: idempotent requests, credits, status, approval."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import LedgerEntry, Reservation
from jobs.models import Take
from jobs.pipeline.request import _idempotency_key_claimed
from jobs.pipeline.settle import take_fail
from providers.models import ProviderModel
from studio.services.projects import shot_update
from studio.services.takes import shot_take_quote, shot_take_request
from studio.services.tokens import api_token_create
from tests.api.conftest import ApiClient
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_run_and_evaluate

pytestmark = pytest.mark.django_db

KEY = {"Idempotency-Key": "3f1c7e0a-5d1b-4c55-9a53-2b8a0c6e9d01"}


def _ready_take(api: ApiClient, shot) -> dict:
    created = api.post(f"/shots/{shot.pk}/takes", headers=KEY).json()
    take_run_and_evaluate(created["id"])
    return created


def test_requesting_a_take_reserves_credits_and_queues_it(api, catalog, creator, shot):
    response = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert response.status_code == 201
    body = response.json()
    take = Take.objects.get()
    quote = shot_take_quote(shot=shot)
    assert (take.owner, take.shot, take.idempotency_key) == (creator, shot, KEY["Idempotency-Key"])
    assert body["id"] == take.pk and body["public_id"] == str(take.public_id) and body["shot_id"] == shot.pk
    assert (body["tier"], body["state"], body["progress"], body["review"]) == ("draft", "queued", 0, "pending")
    assert body["provider"] == {"slug": quote.provider_model.slug, "name": quote.provider_model.name}
    assert body["why"] == quote.plan.first.reason and body["price_credits"] == quote.credits
    assert (body["video_url"], body["poster_url"], body["thumbnail_url"], body["finished_at"]) == (None, None, None, None)
    assert [(event["from_state"], event["to_state"]) for event in body["history"]] == [("", "queued")]
    assert take.reservation.amount == quote.credits


def test_replaying_a_key_returns_the_same_take_and_reserves_once(api, catalog, shot):
    first = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    second = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert Take.objects.count() == 1
    assert Reservation.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESERVE).count() == 1


def test_a_key_whose_first_request_is_still_running_answers_409(api, catalog, creator, shot):
    with _idempotency_key_claimed(owner_id=creator.pk, idempotency_key=KEY["Idempotency-Key"]):  # the first request
        response = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert response.json()["code"] == "idempotency_key_in_progress"
    assert Take.objects.count() == 0 and Reservation.objects.count() == 0
    assert api.post(f"/shots/{shot.pk}/takes", headers=KEY).status_code == 201  # the claim ended with its request


def test_a_key_reused_for_a_changed_shot_is_refused(api, catalog, shot):
    assert api.post(f"/shots/{shot.pk}/takes", headers=KEY).status_code == 201
    assert api.patch(f"/shots/{shot.pk}", {"motion": "The seller turns to camera"}).status_code == 200
    response = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Take.objects.count() == 1 and Reservation.objects.count() == 1


def test_a_key_reused_for_another_shot_is_refused(api, catalog, project, shot):
    other = shot_for(project, title="Second")
    assert api.post(f"/shots/{shot.pk}/takes", headers=KEY).status_code == 201
    assert api.post(f"/shots/{other.pk}/takes", headers=KEY).status_code == 422
    assert Take.objects.count() == 1


def test_keys_belong_to_their_creator(api, client, catalog, shot):
    grace = creator_create(username="grace")
    _, key = api_token_create(user=grace, name="t")
    grace_shot = shot_for(project_for(grace))
    assert api.post(f"/shots/{shot.pk}/takes", headers=KEY).status_code == 201
    assert ApiClient(client, key).post(f"/shots/{grace_shot.pk}/takes", headers=KEY).status_code == 201
    assert Take.objects.count() == 2


@pytest.mark.parametrize(("headers", "code", "message"), [
    ({}, "idempotency_key_missing", "Send an Idempotency-Key header"),
    ({"Idempotency-Key": "   "}, "idempotency_key_missing", "Send an Idempotency-Key header"),
    ({"Idempotency-Key": "k" * 256}, "idempotency_key_invalid", "1 to 255 printable ASCII characters"),
    ({"Idempotency-Key": "clé"}, "idempotency_key_invalid", "1 to 255 printable ASCII characters"),
])
def test_a_missing_or_malformed_key_is_a_bad_request(api, catalog, shot, headers, code, message):
    response = api.post(f"/shots/{shot.pk}/takes", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert message in response.json()["detail"]
    assert not Take.objects.exists()


def test_a_key_of_255_characters_is_accepted(api, catalog, shot):
    assert api.post(f"/shots/{shot.pk}/takes", headers={"Idempotency-Key": "k" * 255}).status_code == 201


def test_too_few_credits_is_payment_required_and_changes_nothing(client, catalog):
    poor = creator_create(username="poor", credits=1)
    _, key = api_token_create(user=poor, name="t")
    shot = shot_for(project_for(poor), duration_seconds=10)
    needed = shot_take_quote(shot=shot).credits
    assert needed > 1
    entries = LedgerEntry.objects.count()
    response = ApiClient(client, key).post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert response.status_code == 402
    body = response.json()
    assert (body["code"], body["needed"], body["available"]) == ("insufficient_credits", needed, 1)
    assert not Take.objects.exists() and not Reservation.objects.exists()
    assert LedgerEntry.objects.count() == entries


def test_no_provider_is_unprocessable_and_changes_nothing(api, catalog, shot):
    ProviderModel.objects.update(enabled=False)
    response = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert response.status_code == 422
    assert response.json()["code"] == "no_provider_available"
    assert not Take.objects.exists() and not Reservation.objects.exists()


def test_take_status_and_list(api, catalog, creator, shot):
    older = shot_take_request(user=creator, shot=shot)
    newer = shot_take_request(user=creator, shot=shot)
    listed = api.get(f"/shots/{shot.pk}/takes").json()
    assert listed["count"] == 2
    assert [item["id"] for item in listed["items"]] == [newer.pk, older.pk]
    assert "history" not in listed["items"][0]
    detail = api.get(f"/takes/{older.pk}")
    assert detail.status_code == 200 and detail.json()["state"] == "queued"


def test_take_list_queries_do_not_grow_with_takes(api, catalog, creator, shot):
    shot_take_request(user=creator, shot=shot)
    api.get("/credits")  # the token's first use is recorded once; keep that write out of the count
    with CaptureQueriesContext(connection) as one:
        api.get(f"/shots/{shot.pk}/takes")
    for _ in range(4):
        take = shot_take_request(user=creator, shot=shot)
    take_fail(take_id=take.pk, reason="failed: refused_by_policy is annotated, not one query per take")
    with CaptureQueriesContext(connection) as five:
        assert len(api.get(f"/shots/{shot.pk}/takes").json()["items"]) == 5
    assert len(five) == len(one)


def test_a_ready_take_shows_its_files_evaluation_and_history(api, catalog, shot):
    created = _ready_take(api, shot)
    body = api.get(f"/takes/{created['id']}").json()
    assert body["state"] == "ready", body["failure_reason"]
    assert (body["progress"], body["failure_reason"]) == (100, "")
    take = Take.objects.get()
    assert body["video_url"] == f"http://testserver{take.video.url}"
    assert body["poster_url"] == f"http://testserver{take.poster.url}"
    assert body["thumbnail_url"] == f"http://testserver{take.thumbnail.url}"
    assert body["evaluation"]["passed"] is True and body["finished_at"] is not None
    assert [event["to_state"] for event in body["history"]] == [
        "queued", "routing", "submitting", "generating", "downloading", "evaluating", "ready",
    ]


def test_approving_a_take_that_is_not_ready_is_a_conflict(api, catalog, shot):
    take_id = api.post(f"/shots/{shot.pk}/takes", headers=KEY).json()["id"]
    for action, done in (("approve", "approved"), ("reject", "rejected")):
        response = api.post(f"/takes/{take_id}/{action}")
        assert response.status_code == 409
        assert response.json() == {"detail": f"Only a ready take can be {done}.", "code": "not_allowed_now"}
    assert Take.objects.get().review == "pending"
    shot.refresh_from_db()
    assert shot.approved_take is None


def test_approving_then_rejecting_a_ready_take(api, catalog, shot):
    take_id = _ready_take(api, shot)["id"]
    response = api.post(f"/takes/{take_id}/approve")
    assert response.status_code == 200
    assert response.json()["review"] == "approved"
    shot.refresh_from_db()
    assert shot.approved_take_id == take_id
    assert api.get(f"/shots/{shot.pk}").json()["approved_take_id"] == take_id

    response = api.post(f"/takes/{take_id}/reject")
    assert response.status_code == 200 and response.json()["review"] == "rejected"
    shot.refresh_from_db()
    assert shot.approved_take is None


def test_changing_a_shot_after_a_take_keeps_the_take_request(api, catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    shot_update(shot=shot, title="Renamed")
    assert api.get(f"/takes/{take.pk}").json()["shot_id"] == shot.pk


def test_a_queued_take_is_cancelled_through_the_api(api, catalog, creator, shot):
    from billing.models import CreditAccount
    from studio.services.takes import shot_take_request

    take = shot_take_request(user=creator, shot=shot)
    response = api.post(f"/takes/{take.pk}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert CreditAccount.objects.get(user=creator).available == 500
    again = api.post(f"/takes/{take.pk}/cancel")
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_a_finished_take_cannot_be_cancelled_through_the_api(api, catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    response = api.post(f"/takes/{take.pk}/cancel")
    assert response.status_code == 409 and "can no longer be cancelled" in response.json()["detail"]


def test_an_unchanged_shot_reuses_its_ready_take_unless_fresh_is_asked(api, catalog, creator, shot):
    first = _ready_take(api, shot)
    quote = api.get(f"/shots/{shot.pk}/quote").json()
    assert (quote["credits"], quote["cached_take_id"]) == (0, first["id"])
    reused = api.post(f"/shots/{shot.pk}/takes", headers={"Idempotency-Key": "again"}).json()
    assert (reused["state"], reused["cached_from_id"], reused["price_credits"]) == ("ready", first["id"], 0)
    assert reused["video_url"] and reused["origin"] == "request"
    fresh_quote = api.get(f"/shots/{shot.pk}/quote?fresh=true").json()
    assert (fresh_quote["credits"], fresh_quote["cached_take_id"]) == (first["price_credits"], None)
    fresh = api.post(f"/shots/{shot.pk}/takes?fresh=true", headers={"Idempotency-Key": "fresh"}).json()
    assert (fresh["state"], fresh["cached_from_id"], fresh["price_credits"]) == ("queued", None, first["price_credits"])


def test_best_of_n_over_the_api_creates_one_batch_and_replays(api, catalog, shot):
    response = api.post(f"/shots/{shot.pk}/takes/best-of", {"count": 3}, headers=KEY)
    assert response.status_code == 201
    takes = response.json()
    assert len(takes) == 3 and len({take["batch"] for take in takes}) == 1 and {take["origin"] for take in takes} == {"best_of"}
    again = api.post(f"/shots/{shot.pk}/takes/best-of", {"count": 3}, headers=KEY).json()
    assert [take["id"] for take in again] == [take["id"] for take in takes]
    assert Reservation.objects.count() == 3
    refused = api.post(f"/shots/{shot.pk}/takes/best-of", {"count": 9}, headers={"Idempotency-Key": "nine"})
    assert refused.status_code == 422 and "count" in refused.json()["errors"]


def test_render_final_over_the_api_needs_an_approved_draft(api, catalog, shot):
    draft = _ready_take(api, shot)
    refused = api.post(f"/takes/{draft['id']}/final", headers={"Idempotency-Key": "final"})
    assert refused.status_code == 409 and "Approve this draft first" in refused.json()["detail"]
    assert api.post(f"/takes/{draft['id']}/approve").status_code == 200
    # Only the animatic (a draft-tier model) is configured here, so no final-tier provider can be routed.
    no_provider = api.get(f"/takes/{draft['id']}/final/quote")
    assert no_provider.status_code == 422 and no_provider.json()["code"] == "no_provider_available"
    assert Take.objects.filter(tier="final").count() == 0


def test_another_provider_is_refused_for_a_take_no_provider_refused(api, catalog, shot):
    draft = _ready_take(api, shot)
    response = api.post(f"/takes/{draft['id']}/other-provider", headers={"Idempotency-Key": "other"})
    assert response.status_code == 409 and "content policy" in response.json()["detail"]
    assert api.get(f"/takes/{draft['id']}").json()["refused_by_policy"] is False


def test_the_quote_says_what_will_be_held_as_well_as_what_will_likely_be_charged(client, catalog, settings):
    """The hold covers a fallback provider's price: a creator who can pay the likely charge but not
    the hold learns it from the quote, not from a 402 after asking."""
    settings.PROVIDER_SANDBOX_URLS = {"kling": "http://127.0.0.1:9"}  # a dearer draft model behind the animatic
    probe = creator_create(username="probe", credits=0)
    shot = shot_for(project_for(probe), duration_seconds=5)
    quote = shot_take_quote(shot=shot)
    assert quote.hold_credits > quote.credits  # the plan's fallback costs more than its first choice

    creator = creator_create(username="between", credits=quote.hold_credits - 1)
    _, key = api_token_create(user=creator, name="t")
    api = ApiClient(client, key)
    shot = shot_for(project_for(creator), duration_seconds=5)
    body = api.get(f"/shots/{shot.pk}/quote").json()
    assert (body["credits"], body["hold_credits"]) == (quote.credits, quote.hold_credits)
    refused = api.post(f"/shots/{shot.pk}/takes", headers=KEY)
    assert refused.status_code == 402 and refused.json()["needed"] == body["hold_credits"]
