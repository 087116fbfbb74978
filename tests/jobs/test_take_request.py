import pytest

from billing.exceptions import InsufficientCredits
from billing.models import CreditAccount, LedgerEntry, Reservation
from jobs.exceptions import IdempotencyKeyReused, NoProviderAvailable
from jobs.models import Take
from providers.models import ProviderModel
from studio.services.projects import shot_update
from studio.services.takes import shot_take_quote, shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.providers.test_health import counting_client

pytestmark = pytest.mark.django_db


def test_request_prices_reserves_and_queues_in_one_go(catalog, creator, shot, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        take = shot_take_request(user=creator, shot=shot)
    assert take.state == "queued"
    assert take.provider_model.slug == "local-animatic"
    # 2 s × $0.01/s × 3 markup = $0.06 = 6 credits
    assert take.price_credits == 6
    assert take.reservation.amount == 6 and take.reservation.state == Reservation.State.OPEN
    assert CreditAccount.objects.get(user=creator).available == 494
    assert take.compiled_prompt.startswith("A lantern seller under neon signs. Rainy night market.")
    assert "Camera: slow dolly in" in take.compiled_prompt
    assert take.route_plan["chosen"][0]["slug"] == "local-animatic"
    assert list(take.events.values_list("to_state", flat=True)) == ["queued"]
    # after commit: the submit stage is sent, and the page hears of the take and the held credits
    assert sorted(cb.func.__name__ for cb in callbacks) == ["_send_credits_changed", "take_changed_publish", "take_stage_send"]
    assert next(cb for cb in callbacks if cb.func.__name__ == "take_stage_send").args == (take.pk, "submit")


def test_quote_matches_what_is_charged(catalog, creator, shot):
    quote = shot_take_quote(shot=shot)
    take = shot_take_request(user=creator, shot=shot)
    assert quote.credits == take.price_credits
    assert quote.provider_model == take.provider_model


def test_a_quote_reads_every_model_health_in_one_redis_round_trip(catalog, shot, monkeypatch):
    from jobs.pipeline import quote as quoting
    from providers import health

    client = counting_client()
    monkeypatch.setattr(health, "health_redis", lambda: client)

    def round_trips(configured) -> int:
        monkeypatch.setattr(quoting, "api_family_configured", configured)
        client.round_trips.sent = 0
        shot_take_quote(shot=shot)
        return client.round_trips.sent

    only_the_animatic = round_trips(lambda family: family == "local_animatic")
    every_model = round_trips(lambda family: True)

    assert ProviderModel.objects.filter(enabled=True).count() > 5
    assert only_the_animatic == every_model == 1


def test_too_few_credits_creates_nothing(catalog):
    user = creator_create(username="poor", credits=3)
    shot = shot_for(project_for(user))
    with pytest.raises(InsufficientCredits):
        shot_take_request(user=user, shot=shot)
    assert Take.objects.count() == 0
    assert Reservation.objects.count() == 0
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["grant"]


def test_same_key_same_request_returns_the_same_take_without_a_second_charge(catalog, creator, shot):
    first = shot_take_request(user=creator, shot=shot, idempotency_key="click-1")
    again = shot_take_request(user=creator, shot=shot, idempotency_key="click-1")
    assert again.pk == first.pk
    assert Reservation.objects.count() == 1


def test_same_key_different_request_is_refused(catalog, creator, shot):
    shot_take_request(user=creator, shot=shot, idempotency_key="click-1")
    shot_update(shot=shot, duration_seconds=4)
    with pytest.raises(IdempotencyKeyReused):
        shot_take_request(user=creator, shot=shot, idempotency_key="click-1")
    assert Take.objects.count() == 1


def test_keys_belong_to_their_owner(catalog, creator, shot):
    other = creator_create(username="bob")
    other_shot = shot_for(project_for(other))
    mine = shot_take_request(user=creator, shot=shot, idempotency_key="same")
    theirs = shot_take_request(user=other, shot=other_shot, idempotency_key="same")
    assert mine.pk != theirs.pk


def test_no_provider_explains_every_exclusion(catalog, creator, shot):
    ProviderModel.objects.update(enabled=False)
    with pytest.raises(NoProviderAvailable, match=r"\(disabled by ops: \d+ providers\)"):
        shot_take_request(user=creator, shot=shot)
    assert Take.objects.count() == 0


def test_no_provider_names_a_few_and_counts_many():
    error = NoProviderAvailable([(slug, "not configured") for slug in "abcd"] + [("veo-3", "disabled by ops")])
    assert str(error) == "No provider can render this shot right now (disabled by ops: veo-3; not configured: 4 providers)."
