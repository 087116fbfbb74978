"""The shot page's generate panel (reuse or fresh, best of N) and a take's follow-ups (render
final, another provider), through the real views and templates."""

import uuid

import pytest
from django.urls import reverse

from billing.services import credits_adjust
from jobs.models import Take
from providers.models import ProviderModel
from studio.services.takes import shot_take_request, take_approve
from tests.factories import shot_for
from tests.jobs.test_pipeline import take_made_ready
from tests.jobs.test_remote_pipeline import drive, runway  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_panel_prices_a_new_draft_and_best_of_n(catalog, creator_client, shot):
    page = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    assert "Draft on <strong>Animatic (local)" in page and "6 credits" in page
    assert ">Generate draft</button>" in page
    for count, credits in ((2, 12), (3, 18), (4, 24)):
        assert f"Best of {count} · {credits} credits" in page


def test_an_unchanged_shot_offers_its_ready_take_for_free_or_a_fresh_variation(catalog, creator, creator_client, shot):
    first = take_made_ready(shot_take_request(user=creator, shot=shot))
    page = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    assert f"Reuse take #{first.pk} · free" in page and "Fresh variation · 6 credits" in page

    reused = creator_client.post(reverse("take-create", args=[shot.pk]), {"idempotency_key": str(uuid.uuid4())}, **HTMX)
    assert reused.status_code == 200
    cached = Take.objects.exclude(pk=first.pk).get()
    assert (cached.state, cached.cached_from, cached.price_credits) == ("ready", first, 0)
    assert "From cache" in reused.content.decode() and f"reused take #{first.pk}" in reused.content.decode()

    fresh = creator_client.post(reverse("take-create", args=[shot.pk]), {"idempotency_key": str(uuid.uuid4()), "fresh": "on"}, **HTMX)
    assert fresh.status_code == 200
    new = Take.objects.exclude(pk__in=[first.pk, cached.pk]).get()
    assert (new.state, new.cached_from, new.price_credits) == ("queued", None, 6) and new.seed != first.seed


def test_best_of_n_from_the_panel_requests_every_take_and_marks_the_best(catalog, creator, creator_client, shot):
    response = creator_client.post(reverse("take-best-of", args=[shot.pk]), {"idempotency_key": "b1", "count": "3"}, **HTMX)
    assert response.status_code == 200
    takes = list(Take.objects.order_by("pk"))
    assert len(takes) == 3 and len({take.batch for take in takes}) == 1
    assert response.content.decode().count('data-live-upsert') == 3
    for take in takes:
        take_made_ready(take)
    best = max(Take.objects.all(), key=lambda take: take.evaluation["aggregate"])
    page = creator_client.get(reverse("shot-takes", args=[shot.pk])).content.decode()
    assert page.count("★ Best of 3") == 1 and "take-card-best" in page
    assert f'id="take-{best.pk}" class="take-card take-card-best"' in page


@pytest.mark.parametrize("count", ["1", "5", "many", ""])
def test_best_of_n_refuses_a_bad_count_and_creates_nothing(catalog, creator_client, shot, count):
    response = creator_client.post(reverse("take-best-of", args=[shot.pk]), {"idempotency_key": "b2", "count": count}, **HTMX)
    assert response.status_code == 422
    assert "Choose 2 to 4 drafts." in response.content.decode() or "This field is required." in response.content.decode()
    assert Take.objects.count() == 0


def test_best_of_n_that_the_balance_cannot_cover_says_so_and_reserves_nothing(catalog, creator, creator_client, shot):
    credits_adjust(user=creator, amount=-490, reason="test: leave 10 credits", created_by=None)  # one 6-credit draft
    response = creator_client.post(reverse("take-best-of", args=[shot.pk]), {"idempotency_key": "b3", "count": "2"}, **HTMX)
    assert response.status_code == 422 and "credits" in response.content.decode()
    assert Take.objects.count() == 0


def test_an_approved_draft_offers_render_final_with_its_price_first(runway, creator, creator_client, shot):  # noqa: F811
    ProviderModel.objects.filter(slug="local-animatic").update(enabled=True)
    draft = take_made_ready(shot_take_request(user=creator, shot=shot))
    card = creator_client.post(reverse("take-approve", args=[draft.pk]), **HTMX).content.decode()
    assert "Render final…" in card

    offer = creator_client.get(reverse("take-final", args=[draft.pk]), **HTMX)
    assert offer.status_code == 200
    body = offer.content.decode()
    assert "Final on <strong>Gen-4.5 Aleph</strong>" in body
    final_price = int(body.split("Render final · ")[1].split(" credits")[0])
    assert final_price > draft.price_credits and "starting from its first frame" in body

    done = creator_client.post(reverse("take-final", args=[draft.pk]), {"idempotency_key": "f1"}, **HTMX)
    assert done.status_code == 200 and "Final take #" in done.content.decode()
    final = Take.objects.get(tier="final")
    assert (final.source_take, final.price_credits, final.origin) == (draft, final_price, "render_final")
    assert "Approved draft #" in done.content.decode()


def test_render_final_on_a_draft_not_yet_approved_explains_why(catalog, creator, creator_client, shot):
    draft = take_made_ready(shot_take_request(user=creator, shot=shot))
    offer = creator_client.get(reverse("take-final", args=[draft.pk]), **HTMX)
    assert offer.status_code == 422 and "Approve this draft first" in offer.content.decode()
    refused = creator_client.post(reverse("take-final", args=[draft.pk]), {"idempotency_key": "f2"}, **HTMX)
    assert refused.status_code == 422 and Take.objects.filter(tier="final").count() == 0


def test_a_refused_take_offers_another_provider(runway, creator, creator_client, project):  # noqa: F811
    shot = shot_for(project, subject="[sandbox:policy] a forbidden scene")
    refused = drive(shot_take_request(user=creator, shot=shot).pk)
    card = creator_client.get(reverse("shot-takes", args=[shot.pk])).content.decode()
    assert "Try another provider…" in card

    ProviderModel.objects.filter(slug="local-animatic").update(enabled=True)
    offer = creator_client.get(reverse("take-other-provider", args=[refused.pk]), **HTMX).content.decode()
    assert "Draft on <strong>Animatic (local)" in offer and "Leaves out the provider that refused" in offer
    done = creator_client.post(reverse("take-other-provider", args=[refused.pk]), {"idempotency_key": "o1"}, **HTMX)
    assert done.status_code == 200
    retry = Take.objects.get(origin="other_provider")
    assert retry.source_take == refused and retry.provider_model.slug == "local-animatic"
    assert f"Take #{refused.pk}, which a provider refused" in done.content.decode()


def test_follow_ups_of_another_creators_take_are_not_found(catalog, creator, client, shot):
    from tests.factories import creator_create

    draft = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot)))
    client.force_login(creator_create(username="mallory"))
    assert client.get(reverse("take-final", args=[draft.pk])).status_code == 404
    assert client.post(reverse("take-other-provider", args=[draft.pk])).status_code == 404


def test_follow_ups_work_without_javascript(catalog, creator, creator_client, shot):
    draft = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot)))
    page = creator_client.get(reverse("take-final", args=[draft.pk]))
    assert page.status_code in (200, 422) and "<h1>Render final</h1>" in page.content.decode()
