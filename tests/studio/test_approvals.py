"""Approvals bound to what was approved: the shot's spec hash is recorded with the approval, a change
to the prompt, references or format makes it stale, and nothing that spends credits acts on it."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Take
from providers.models import ProviderModel
from studio.models import ReviewDecision, Shot
from studio.services.approvals import (
    StaleApproval,
    approval_is_current,
    approval_require_current,
    shot_spec_hash,
    spec_hashes_for_shots,
)
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.review import review_decision_add, share_link_create
from studio.services.takes import (
    shot_take_request,
    take_approve,
    take_render_final,
    take_render_final_quote,
)
from tests.factories import shot_for
from tests.jobs.test_pipeline import take_made_ready
from tests.jobs.test_remote_pipeline import runway  # noqa: F401 (fixture)
from tests.studio.test_views import png_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved_draft(catalog, creator, shot):
    return take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot, idempotency_key="draft")))


def fresh(shot: Shot) -> Shot:
    return Shot.objects.select_related("project").get(pk=shot.pk)


def spend_rows() -> tuple[int, int, int]:
    return Take.objects.count(), Reservation.objects.count(), LedgerEntry.objects.count()


def test_an_approval_records_the_take_and_the_specs_hash(creator, shot, approved_draft):
    shot = fresh(shot)

    assert shot.approved_take_id == approved_draft.pk and shot.approved_spec_hash == shot_spec_hash(shot=shot)
    assert approval_is_current(shot=shot)
    decision = ReviewDecision.objects.get()
    assert (decision.take_id, decision.verdict, decision.decided_by, decision.by_creator, decision.spec_hash) == (
        approved_draft.pk, "approved", creator.username, True, shot.approved_spec_hash)


@pytest.mark.parametrize("change", [
    {"subject": "A fishmonger under neon signs"}, {"scene": "Dawn"}, {"camera": "orbit"}, {"motion": "Rain falls"},
    {"style": "anime"}, {"negative": "people"}, {"duration_seconds": 3}, {"aspect_ratio": "9:16"},
])
def test_a_change_to_the_prompt_or_format_makes_the_approval_stale(shot, approved_draft, change):
    shot_update(shot=fresh(shot), **change)

    assert not approval_is_current(shot=fresh(shot))
    with pytest.raises(StaleApproval, match="changed after its take was approved"):
        approval_require_current(shot=fresh(shot))


def test_a_new_title_is_not_a_change_to_what_was_approved(shot, approved_draft):
    shot_update(shot=fresh(shot), title="Renamed")

    assert approval_is_current(shot=fresh(shot))


def test_a_change_to_the_references_makes_the_approval_stale(project, shot, approved_draft):
    mei = character_create(project=project, name="Mei")
    shot_update(shot=fresh(shot), characters=[mei])
    assert not approval_is_current(shot=fresh(shot))

    take_approve(take=approved_draft)  # approved again, for the shot with Mei
    assert approval_is_current(shot=fresh(shot))

    character_image_add(character=mei, upload=png_upload())  # Mei's references change what a render sees
    assert not approval_is_current(shot=fresh(shot))


def test_a_stale_approval_blocks_the_final_render_and_spends_nothing(creator, creator_client, shot, approved_draft):
    shot_update(shot=fresh(shot), subject="A fishmonger under neon signs")
    approved_draft.refresh_from_db()
    before = spend_rows()

    with pytest.raises(StaleApproval):
        take_render_final_quote(draft=approved_draft)
    with pytest.raises(StaleApproval):
        take_render_final(user=creator, draft=approved_draft, idempotency_key="final-1")
    page = creator_client.post(reverse("take-final", args=[approved_draft.pk]), {"idempotency_key": "final-2"})
    api_key = _api_key(creator)
    api = Client().post(f"/api/takes/{approved_draft.pk}/final", HTTP_AUTHORIZATION=f"Bearer {api_key}",
                        HTTP_IDEMPOTENCY_KEY="final-3")

    assert page.status_code == 422 and "approval is stale" in page.content.decode()
    assert api.status_code == 409 and "approval is stale" in api.json()["detail"]
    assert spend_rows() == before
    assert not Take.objects.filter(tier="final").exists()


def test_the_shot_page_shows_the_stale_approval_and_offers_to_approve_again(creator_client, shot, approved_draft):
    shot_update(shot=fresh(shot), subject="A fishmonger under neon signs")

    html = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()

    assert 'data-approval="stale"' in html and "Approval stale" in html
    assert "Approve for the current shot" in html and "Render final…" not in html


def test_approving_again_for_the_current_shot_lets_the_final_render(runway, creator, shot):  # noqa: F811
    ProviderModel.objects.filter(slug="local-animatic").update(enabled=True)  # drafts here, finals at Runway
    approved_draft = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot)))
    shot_update(shot=fresh(shot), subject="A fishmonger under neon signs")
    approved_draft.refresh_from_db()
    with pytest.raises(StaleApproval):
        take_render_final(user=creator, draft=approved_draft, idempotency_key="final-1")

    take_approve(take=approved_draft)
    final = take_render_final(user=creator, draft=approved_draft, idempotency_key="final-1")

    assert (final.tier, final.source_take_id) == ("final", approved_draft.pk)
    assert ReviewDecision.objects.filter(take=approved_draft, verdict="approved", by_creator=True).count() == 2
    assert credit_accounts_out_of_balance() == []


def test_a_reviewers_decision_shows_stale_once_the_shot_changes(creator, creator_client, project, shot, approved_draft):
    link = share_link_create(user=creator, project=project, label="Client")
    decision = review_decision_add(link=link, reviewer_name="Rosa", take=approved_draft, verdict="approved")
    hub = reverse("review-hub", args=[project.pk])
    assert f'<li id="decision-{decision.pk}" class="decision-row" data-verdict="approved" data-stale="false"' in \
        creator_client.get(hub).content.decode()

    shot_update(shot=fresh(shot), aspect_ratio="1:1")

    html = creator_client.get(hub).content.decode()
    assert f'<li id="decision-{decision.pk}" class="decision-row" data-verdict="approved" data-stale="true"' in html
    assert "Stale: shot changed since" in html


def test_spec_hashes_for_a_storyboard_match_each_shots_own_in_constant_queries(project, shot):
    mei, kai = character_create(project=project, name="Mei"), character_create(project=project, name="Kai")
    character_image_add(character=mei, upload=png_upload())
    character_image_add(character=kai, upload=png_upload(colour="blue"))
    second = shot_for(project, title="Stall")
    shot_update(shot=second, characters=[mei, kai])
    third = shot_for(project, title="Alley")
    shot_update(shot=third, characters=[kai])

    with CaptureQueriesContext(connection) as queries:
        hashes = spec_hashes_for_shots(project.shots.all())

    assert hashes == {s.pk: shot_spec_hash(shot=s) for s in (shot, second, third)}
    assert len(set(hashes.values())) == 3
    assert len(queries) == 4  # the shots, their characters, the characters' images, the cut's lines


def _api_key(user) -> str:
    from studio.services.tokens import api_token_create

    return api_token_create(user=user, name="test")[1]


def test_the_migration_stamps_approvals_made_before_it_with_the_current_spec(shot, approved_draft):
    from importlib import import_module

    from django.apps import apps

    Shot.objects.filter(pk=shot.pk).update(approved_spec_hash="")
    migration = import_module("studio.migrations.0004_share_links_and_review")

    migration.approvals_stamp_with_current_spec(apps, None)

    assert approval_is_current(shot=fresh(shot))
    assert not Shot.objects.filter(approved_take__isnull=True).exclude(approved_spec_hash="").exists()

