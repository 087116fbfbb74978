"""A take failing a hard check is regenerated with a new seed, or on the next provider when the
failure is that provider's systematic answer (the wrong size or length) or after repeated safety
failures, within its retry budget; and never when the creator cannot pay for it."""

import pytest

from billing.models import CreditAccount, Reservation
from billing.selectors import credit_accounts_out_of_balance
from billing.services import credits_adjust
from jobs.models import Take
from jobs.pipeline.evaluate import take_evaluate
from jobs.pipeline.regenerate import take_regenerate
from jobs.pipeline.settle import take_fail_check
from studio.services.images import character_image_add
from studio.services.projects import character_create, project_budget_set, shot_update
from studio.services.takes import shot_take_request, shot_takes_request_best_of
from tests.jobs.test_pipeline import png_upload, take_run_and_evaluate
from tests.jobs.test_remote_pipeline import runway  # noqa: F401 (fixture)
from tests.pipeline import take_render

pytestmark = pytest.mark.django_db

SAFETY_FAILED = {
    "passed": False, "failure_reason": "The video shows unsafe content (exposed genitalia).", "aggregate": None,
    "technical": {"decodes": {"passed": True, "value": True, "expected": True, "detail": "48 frames decoded"}},
    "gates": {"technical": {"passed": True, "reason": ""},
              "safety": {"passed": False, "reason": "The video shows unsafe content (exposed genitalia).",
                         "labels": ["FEMALE_GENITALIA_EXPOSED"]}},
}  # what evaluate_take_video stores when NudeNet blocks a take (its classifier is the outside boundary here)

WRONG_SIZE = {
    "passed": False, "failure_reason": "The video is 854x480 instead of 854x854.", "aggregate": None,
    "technical": {"decodes": {"passed": True, "value": True, "expected": True, "detail": "120 frames decoded"},
                  "size": {"passed": False, "value": "854x480", "expected": "854x854", "detail": "854x480 instead of 854x854"}},
    "gates": {"technical": {"passed": False, "reason": "The video is 854x480 instead of 854x854."}},
}  # what evaluate_take_video stores for a provider that ignored the asked-for shape


@pytest.fixture
def black_shot(project, shot):
    """Rendered by the animatic from a black reference without camera moves: an all-black video."""
    shadow = character_create(project=project, name="Shadow")
    character_image_add(character=shadow, upload=png_upload((0, 0, 0)))
    shot_update(shot=shot, characters=[shadow], camera="static")
    return shot


def replacement_of(take: Take) -> Take | None:
    return Take.objects.filter(source_take=take, origin=Take.Origin.REGENERATION).first()


def notes(take: Take) -> list[str]:
    return list(take.events.filter(from_state="failed", to_state="failed").values_list("detail", flat=True))


def test_a_take_failing_a_check_is_regenerated_once_with_a_new_seed(catalog, creator, project, black_shot):
    take = take_run_and_evaluate(shot_take_request(user=creator, shot=black_shot).pk)
    assert take.state == "failed"
    replacement = replacement_of(take)
    assert take.failure_reason.startswith("The video is all black.")
    assert take.failure_reason.endswith(f"Regenerating as take #{replacement.pk}.")
    assert (replacement.state, replacement.shot_id, replacement.tier, replacement.notify_group, replacement.request) == (
        "queued", take.shot_id, take.tier, take.notify_group, take.request)
    assert replacement.seed != take.seed
    assert Reservation.objects.get(pk=replacement.reservation_id).budget_key == project.budget_key
    assert notes(take) == [f"regenerating as take #{replacement.pk} on {replacement.provider_model.name}, with a new seed"]
    assert take_regenerate(take_id=take.pk) == replacement  # a re-run requests nothing new
    take_evaluate(take_id=take.pk)  # nor does a redelivered evaluation task
    assert Take.objects.count() == 2 and len(notes(take)) == 1
    assert credit_accounts_out_of_balance() == []


def test_regeneration_stops_when_the_retry_budget_is_used_up(catalog, creator, black_shot, settings):
    settings.TAKE_REGENERATIONS = 2
    take = shot_take_request(user=creator, shot=black_shot)
    chain = [take_run_and_evaluate(take.pk)]
    while follow_up := replacement_of(chain[-1]):
        chain.append(take_run_and_evaluate(follow_up.pk))
    assert [t.origin for t in chain] == ["request", "regeneration", "regeneration"]
    assert all(t.state == "failed" for t in chain)
    last = chain[-1]
    assert "Regenerating" not in last.failure_reason
    assert last.failure_reason.endswith("Not regenerated: its 2 automatic regenerations are used up.")
    assert notes(last) == ["not regenerated: its 2 automatic regenerations are used up"]
    assert last.regeneration == Take.Regeneration.DECLINED
    assert not Reservation.objects.filter(state=Reservation.State.OPEN).exists()
    assert CreditAccount.objects.get(user=creator).balance == 500  # each broken take charged, then refunded
    assert credit_accounts_out_of_balance() == []


def test_an_interrupted_regeneration_is_finished_by_the_redelivered_evaluation_task(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_render(take.pk)
    take_fail_check(take_id=take.pk, evaluation=SAFETY_FAILED)  # the worker died right after settling
    assert replacement_of(take) is None
    take_evaluate(take_id=take.pk)
    assert replacement_of(take) is not None


def test_no_regeneration_over_the_project_budget(catalog, creator, project, black_shot):
    take = shot_take_request(user=creator, shot=black_shot)
    take_render(take.pk)
    project_budget_set(user=creator, project=project, cap_credits=0)
    take_evaluate(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "failed" and replacement_of(take) is None
    assert "Regenerating" not in take.failure_reason
    (note,) = notes(take)
    assert note.startswith("not regenerated: This project's budget is 0 credits")
    take.refresh_from_db()
    assert "Not regenerated: This project's budget is 0 credits" in take.failure_reason
    assert credit_accounts_out_of_balance() == []


def test_no_regeneration_when_the_creator_cannot_afford_it(catalog, creator, black_shot, settings):
    settings.BILLING_REFUND_BROKEN_OUTPUTS = False  # the broken take is charged, leaving too little
    take = shot_take_request(user=creator, shot=black_shot)
    account = CreditAccount.objects.get(user=creator)
    credits_adjust(user=creator, amount=-account.available, reason="spent elsewhere", created_by=None)
    take = take_run_and_evaluate(take.pk)
    assert take.state == "failed" and replacement_of(take) is None
    (note,) = notes(take)
    assert note.startswith("not regenerated: This needs") and "available" in note
    assert credit_accounts_out_of_balance() == []


def test_after_a_second_safety_failure_the_next_provider_is_tried(runway, creator, project, shot, settings):  # noqa: F811
    settings.BILLING_REFUND_BROKEN_OUTPUTS = False  # blocked outputs are refunded whatever the setting
    mei = character_create(project=project, name="Mei")
    character_image_add(character=mei, upload=png_upload((180, 90, 40)))
    shot_update(shot=shot, characters=[mei], duration_seconds=5)  # so both Runway models can render it
    first = shot_take_request(user=creator, shot=shot)
    chosen, following = [step["slug"] for step in first.route_plan["chosen"][:2]]
    assert first.provider_model.slug == chosen and {chosen, following} == {"runway-gen45-turbo", "runway-gen4-turbo"}
    take_fail_check(take_id=first.pk, evaluation=SAFETY_FAILED)
    second = take_regenerate(take_id=first.pk)
    assert second.provider_model.slug == chosen  # one safety failure: a new seed on the same model
    take_fail_check(take_id=second.pk, evaluation=SAFETY_FAILED)
    third = take_regenerate(take_id=second.pk)
    assert third and third.provider_model.slug == following, notes(second)
    excluded = {step["slug"]: step["reason"] for step in third.route_plan["excluded"]}
    assert excluded[chosen] == "you asked for a different provider"
    assert notes(second) == [f"regenerating as take #{third.pk} on {third.provider_model.name}, "
                             f"after repeated safety failures on {chosen}"]
    for blocked in (first, second):
        refund = Reservation.objects.get(pk=blocked.reservation_id).refund
        assert refund.reason == "safety_blocked" and refund.note.startswith("failed check safety: ")
    assert CreditAccount.objects.get(user=creator).balance == 500
    assert credit_accounts_out_of_balance() == []


def test_a_regenerated_best_of_take_stays_in_its_batch(catalog, creator, black_shot):
    first, second = shot_takes_request_best_of(user=creator, shot=black_shot, count=2)
    failed = take_run_and_evaluate(first.pk)
    replacement = replacement_of(failed)
    assert replacement.batch == first.batch == second.batch
    assert set(Take.objects.filter(batch=first.batch)) == {first, second, replacement}


def test_a_provider_that_makes_the_wrong_size_is_not_asked_again(runway, creator, project, shot):  # noqa: F811
    """The wrong shape is a provider's systematic answer to the request: a new seed there would
    fail the same way, paid and refunded each time, so the replacement goes to the next provider."""
    mei = character_create(project=project, name="Mei")
    character_image_add(character=mei, upload=png_upload((180, 90, 40)))
    shot_update(shot=shot, characters=[mei], duration_seconds=5)  # so both Runway models can render it
    first = shot_take_request(user=creator, shot=shot)
    chosen, following = [step["slug"] for step in first.route_plan["chosen"][:2]]
    take_fail_check(take_id=first.pk, evaluation=WRONG_SIZE)
    second = take_regenerate(take_id=first.pk)
    assert second.provider_model.slug == following
    assert notes(first) == [f"regenerating as take #{second.pk} on {second.provider_model.name}, "
                            f"avoiding {chosen}: its video had the wrong size"]
    assert credit_accounts_out_of_balance() == []
