"""After the first draft: render an approved draft as a final, best-of-N drafts ranked by score,
and another provider after a content-policy refusal."""

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from billing.exceptions import InsufficientCredits
from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.compiler import ShotSpec
from jobs.exceptions import TakeError
from jobs.media import video_first_frame
from jobs.models import Take
from jobs.pipeline.request import take_request_best_of
from providers.models import ProviderModel
from studio.exceptions import StudioError
from studio.services.takes import (
    shot_spec,
    shot_take_request,
    shot_takes_request_best_of,
    take_approve,
    take_other_provider_quote,
    take_render_final,
    take_render_final_quote,
    take_request_other_provider,
)
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_made_ready
from tests.jobs.test_remote_pipeline import drive, runway  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved_draft(catalog, creator, shot):
    return take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot)))


# Render final

def test_render_final_makes_a_final_take_of_the_same_request_from_the_drafts_first_frame(runway, creator, shot):  # noqa: F811
    ProviderModel.objects.filter(slug="local-animatic").update(enabled=True)  # drafts here, finals at Runway
    draft = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot)))
    quote = take_render_final_quote(draft=draft)
    assert quote.provider_model.slug == "runway-gen45-aleph" and quote.credits > draft.price_credits

    final = take_render_final(user=creator, draft=draft, idempotency_key="final-1")

    assert (final.tier, final.origin, final.source_take, final.seed) == ("final", "render_final", draft, draft.seed)
    assert final.price_credits == quote.credits and final.provider_model == quote.provider_model
    spec = ShotSpec.from_request(final.request)
    assert spec.reference_image_names == tuple(draft.request["reference_image_names"])
    with draft.video.open("rb") as video, default_storage.open(spec.start_frame_name, "rb") as frame_file:
        assert list(Image.open(frame_file).convert("RGB").getdata()) == list(video_first_frame(video).getdata())
    final = drive(final.pk)
    assert final.state == "ready", final.failure_reason
    assert final.video.name.startswith("takes/final/")
    sent = [r.json() for r in runway.requests_seen if r.path == "/v1/image_to_video"]
    assert len(sent) == 1 and sent[0]["promptImage"].startswith("data:image/png;base64,")
    assert sent[0]["seed"] == draft.seed and sent[0]["model"] == final.provider_model.model_id
    assert take_render_final(user=creator, draft=draft, idempotency_key="final-1").pk == final.pk
    assert credit_accounts_out_of_balance() == []


def test_only_an_approved_ready_draft_can_be_rendered_final(catalog, creator, shot):
    queued = shot_take_request(user=creator, shot=shot)
    with pytest.raises(StudioError, match="Only a ready draft"):
        take_render_final(user=creator, draft=queued)
    ready = take_made_ready(queued)
    with pytest.raises(StudioError, match="Approve this draft first"):
        take_render_final_quote(draft=ready)
    assert Take.objects.filter(tier="final").count() == 0


# Best of N

def test_best_of_n_reserves_every_take_at_once_with_different_seeds(catalog, creator, shot):
    takes = shot_takes_request_best_of(user=creator, shot=shot, count=3, idempotency_key="batch-1")
    assert len({take.seed for take in takes}) == 3
    assert len({take.batch for take in takes}) == 1 and takes[0].batch is not None
    assert {take.origin for take in takes} == {"best_of"}
    assert Reservation.objects.filter(state="open").count() == 3
    again = shot_takes_request_best_of(user=creator, shot=shot, count=3, idempotency_key="batch-1")
    assert [take.pk for take in again] == [take.pk for take in takes]
    assert Reservation.objects.count() == 3


def test_best_of_n_is_all_or_nothing_on_credits(catalog, shot):
    poor = creator_create(username="poor", credits=10)  # one 6-credit draft fits, two do not
    poor_shot = shot_for(project_for(poor))
    with pytest.raises(InsufficientCredits):
        shot_takes_request_best_of(user=poor, shot=poor_shot, count=2, idempotency_key="batch-2")
    assert Take.objects.filter(owner=poor).count() == 0
    assert CreditAccount.objects.get(user=poor).available == 10
    assert LedgerEntry.objects.filter(kind="reserve").count() == 0


@pytest.mark.parametrize("count", [1, 5])
def test_best_of_n_refuses_counts_outside_two_to_four(catalog, creator, shot, count):
    with pytest.raises(TakeError, match="2 to 4"):
        shot_takes_request_best_of(user=creator, shot=shot, count=count)


def test_best_of_n_ranks_ready_takes_by_their_aggregate_score(catalog, creator, shot):
    takes = [take_made_ready(take) for take in shot_takes_request_best_of(user=creator, shot=shot, count=3)]
    ranked = sorted(takes, key=lambda take: (-take.evaluation["aggregate"], take.pk))  # equal scores: earlier first
    assert [take.best_of_standing for take in ranked] == [(1, 3), (2, 3), (3, 3)]


def test_a_better_score_outranks_an_earlier_take(catalog, creator, shot):
    first, second = [take_made_ready(take) for take in shot_takes_request_best_of(user=creator, shot=shot, count=2)]
    Take.objects.filter(pk=second.pk).update(evaluation={**second.evaluation, "aggregate": 99.0})
    Take.objects.filter(pk=first.pk).update(evaluation={**first.evaluation, "aggregate": 40.0})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.best_of_standing, first.best_of_standing) == ((1, 2), (2, 2))


def test_a_single_request_is_not_ranked(catalog, creator, shot):
    assert take_made_ready(shot_take_request(user=creator, shot=shot)).best_of_standing is None


def test_best_of_n_without_a_key_still_shares_one_batch(catalog, creator, shot):
    takes = take_request_best_of(count=2, owner_id=creator.pk, shot_id=shot.pk, notify_group="g", spec=shot_spec(shot=shot))
    assert takes[0].batch == takes[1].batch


# Another provider after a refusal

def test_after_a_policy_refusal_the_creator_may_allow_another_provider(runway, creator, project):  # noqa: F811
    shot = shot_for(project, subject="[sandbox:policy] a forbidden scene")
    refused = drive(shot_take_request(user=creator, shot=shot).pk)
    assert refused.state == "failed" and refused.refused_by_policy

    ProviderModel.objects.filter(slug="local-animatic").update(enabled=True)
    quote = take_other_provider_quote(take=refused)
    assert quote.provider_model.slug != "runway-gen45-turbo"
    retry = take_request_other_provider(user=creator, take=refused, idempotency_key="elsewhere-1")
    assert (retry.origin, retry.source_take, retry.seed, retry.tier) == ("other_provider", refused, refused.seed, "draft")
    excluded = {step["slug"]: step["reason"] for step in retry.route_plan["excluded"]}
    assert excluded["runway-gen45-turbo"] == "you asked for a different provider"
    assert take_made_ready(retry).provider_model.slug == "local-animatic"
    assert credit_accounts_out_of_balance() == []


def test_another_provider_is_only_offered_after_a_policy_refusal(approved_draft, creator):
    assert approved_draft.refused_by_policy is False
    with pytest.raises(StudioError, match="content policy"):
        take_request_other_provider(user=creator, take=approved_draft)
