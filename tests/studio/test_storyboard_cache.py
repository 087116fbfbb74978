"""The storyboard answers 304 while nothing it shows has changed, and serves itself and its shot
cards from the cache; every change it shows gives a new ETag and fresh HTML."""

import re

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.urls import reverse

from billing.services import credits_adjust
from jobs.pipeline.transitions import take_progress_report, take_transition
from jobs.states import TakeState
from studio.services.projects import character_create, project_budget_set, shot_update
from studio.services.takes import shot_take_request, take_approve
from tests.factories import shot_for

pytestmark = pytest.mark.django_db

SHOT_CARD = "studio/partials/shot_card.html"


@pytest.fixture
def board(catalog, creator_client, project, shot):
    """The storyboard, viewed once so the browser holds its CSRF cookie (pages before it carry no ETag)."""
    url = reverse("project-detail", args=[project.pk])
    assert "ETag" not in creator_client.get(url)
    return url


def view(client, url, etag: str = ""):
    return client.get(url, **({"HTTP_IF_NONE_MATCH": etag} if etag else {}))


def changed(client, url, etag: str) -> str:
    """The page after a change: a 200 with a new ETag, and its HTML."""
    response = view(client, url, etag)
    assert response.status_code == 200 and response["ETag"] not in ("", etag)
    return response.content.decode()


def card(html: str, shot) -> str:
    return re.search(rf'<article id="shot-{shot.pk}".*?</article>', html, re.S).group(0)


def test_an_unchanged_storyboard_answers_304_to_its_etag(creator_client, board):
    first = view(creator_client, board)
    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]

    again = view(creator_client, board, first["ETag"])

    assert again.status_code == 304 and again["ETag"] == first["ETag"] and again.content == b""
    assert view(creator_client, board, '"something else"').status_code == 200


def test_the_shot_grid_partial_answers_304_too(creator_client, creator, project, shot, board):
    url = reverse("project-shots", args=[project.pk])
    first = creator_client.get(url, HTTP_HX_REQUEST="true")
    assert creator_client.get(url, HTTP_HX_REQUEST="true", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    shot_take_request(user=creator, shot=shot)

    fresh = creator_client.get(url, HTTP_HX_REQUEST="true", HTTP_IF_NONE_MATCH=first["ETag"])
    assert fresh.status_code == 200 and "Rendering · 0%" in fresh.content.decode()


def test_answering_304_costs_the_same_queries_whatever_the_storyboard_holds(creator_client, creator, project, shot, board,
                                                                          django_assert_num_queries):
    etag = view(creator_client, board)["ETag"]
    with django_assert_num_queries(3):  # the session, the user, the storyboard's versions
        assert view(creator_client, board, etag).status_code == 304
    for number in range(5):
        shot_take_request(user=creator, shot=shot_for(project, title=f"Shot {number}"))
    etag = view(creator_client, board)["ETag"]
    with django_assert_num_queries(3):
        assert view(creator_client, board, etag).status_code == 304


def test_a_take_moving_a_state_or_a_progress_step_changes_the_etag_and_the_card(creator_client, creator, shot, board):
    etag = view(creator_client, board)["ETag"]
    take = shot_take_request(user=creator, shot=shot)
    html = changed(creator_client, board, etag)
    assert "Rendering · 0%" in card(html, shot) and "1 take" in card(html, shot)

    for state in (TakeState.ROUTING, TakeState.SUBMITTING, TakeState.GENERATING):
        etag = view(creator_client, board)["ETag"]
        take_transition(take_id=take.pk, to_state=state)
        changed(creator_client, board, etag)

    etag = view(creator_client, board)["ETag"]
    take_progress_report(take_id=take.pk, percent=40)  # written without touching updated_at
    assert "Rendering · 40%" in card(changed(creator_client, board, etag), shot)

    etag = view(creator_client, board)["ETag"]
    take_transition(take_id=take.pk, to_state=TakeState.DOWNLOADING)
    take_transition(take_id=take.pk, to_state=TakeState.EVALUATING)
    take_transition(take_id=take.pk, to_state=TakeState.READY, evaluation={"aggregate": 70.0})
    assert "Draft ready · review" in card(changed(creator_client, board, etag), shot)

    etag = view(creator_client, board)["ETag"]
    take.refresh_from_db()
    take_approve(take=take)
    approved = card(changed(creator_client, board, etag), shot)
    assert 'data-approved="true"' in approved and "✓ Approved" in approved


def test_a_shot_edit_or_a_new_shot_changes_the_etag_and_the_page(creator_client, project, shot, board):
    etag = view(creator_client, board)["ETag"]
    shot_update(shot=shot, title="Lanterns at dawn")
    assert "Lanterns at dawn" in card(changed(creator_client, board, etag), shot)

    etag = view(creator_client, board)["ETag"]
    second = shot_for(project, title="Rooftops")
    assert "Rooftops" in card(changed(creator_client, board, etag), second)


def test_credits_budget_and_characters_change_the_etag_and_the_page(creator_client, creator, project, board):
    etag = view(creator_client, board)["ETag"]
    credits_adjust(user=creator, amount=1234, reason="goodwill", created_by=None)
    assert '<strong class="credits-amount">1,734</strong>' in changed(creator_client, board, etag)

    etag = view(creator_client, board)["ETag"]
    project_budget_set(user=creator, project=project, cap_credits=900)
    assert "0</strong> of 900 credits" in changed(creator_client, board, etag)

    etag = view(creator_client, board)["ETag"]
    character_create(project=project, name="Mei", description="")
    assert '<h3 class="character-name">Mei</h3>' in changed(creator_client, board, etag)


def test_the_budget_meter_counts_what_the_takes_hold(creator_client, creator, project, shot, board):
    project_budget_set(user=creator, project=project, cap_credits=900)
    etag = view(creator_client, board)["ETag"]

    take = shot_take_request(user=creator, shot=shot)

    assert f"{take.reservation.amount}</strong> of 900 credits" in changed(creator_client, board, etag)


def test_an_unchanged_storyboard_is_served_from_the_cache_with_a_fresh_csrf_token(catalog, client, creator, project, shot):
    client = Client(enforce_csrf_checks=True)
    client.force_login(creator)
    url = reverse("project-detail", args=[project.pk])
    client.get(url)  # sets the CSRF cookie
    rendered = client.get(url)

    cached = client.get(url)

    assert cached.status_code == 200 and cached.templates == []  # nothing rendered: the page came from the cache
    tokens = [re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)
              for response in (rendered, cached)]
    assert tokens[0] != tokens[1] and "csrf-token-of-this-response" not in cached.content.decode()
    answer = client.post(reverse("character-create", args=[project.pk]), {"name": "Mei", "csrfmiddlewaretoken": tokens[1]})
    assert answer.status_code == 302


def test_unchanged_shot_cards_come_from_the_cache_when_the_page_is_rendered(creator_client, creator, project, shot, board):
    second = shot_for(project, title="Rooftops")
    assert SHOT_CARD in [template.name for template in view(creator_client, board).templates]
    credits_adjust(user=creator, amount=5, reason="a change outside the cards", created_by=None)

    page = view(creator_client, board)

    assert SHOT_CARD not in [template.name for template in page.templates]
    assert f'id="shot-{shot.pk}"' in page.content.decode() and f'id="shot-{second.pk}"' in page.content.decode()


def test_the_cache_keys_carry_the_key_prefix_and_expire(creator_client, board):
    view(creator_client, board)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    client = redis.Redis.from_url(settings.REDIS_URL)

    keys = list(client.scan_iter(f"{prefix}:*storyboard-*"))

    assert {key.decode().split(":")[2].split("-")[1] for key in keys} >= {"card", "page"}
    assert all(0 < client.ttl(key) <= settings.STORYBOARD_CACHE_SECONDS for key in keys)


def test_a_message_waiting_to_be_shown_turns_the_etag_off(creator_client, project, board):
    etag = view(creator_client, board)["ETag"]
    refused = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), {})  # changes nothing
    assert refused.status_code == 302

    response = view(creator_client, board, etag)

    assert response.status_code == 200 and "ETag" not in response and "Nothing was requested" in response.content.decode()
    assert view(creator_client, board, etag).status_code == 304  # shown once: the page is the same again


def test_the_storyboard_renders_without_a_cache(creator_client, shot, board, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens

    response = view(creator_client, board)

    assert response.status_code == 200 and f'id="shot-{shot.pk}"' in response.content.decode()


def test_the_versions_read_the_budget_as_billing_does(creator, project):
    from billing.models import Refund
    from billing.selectors import spend_budget_usage
    from billing.services import credits_capture, credits_refund, credits_release, credits_reserve
    from studio.selectors import storyboard_versions_for_user

    project_budget_set(user=creator, project=project, cap_credits=900)
    key = project.budget_key
    held, released, captured, refunded = (credits_reserve(user_id=creator.pk, amount=amount, reference=f"budget-{amount}",
                                                          budget_key=key) for amount in (10, 20, 40, 80))
    credits_reserve(user_id=creator.pk, amount=160, reference="another project", budget_key="project:0")
    credits_release(reservation_id=released.pk)
    credits_capture(reservation_id=captured.pk, amount=30)
    credits_capture(reservation_id=refunded.pk, amount=80)
    credits_refund(reservation_id=refunded.pk, reason=Refund.Reason.GOODWILL)

    budget = storyboard_versions_for_user(user=creator, project_id=project.pk).budget

    assert budget == spend_budget_usage(user_id=creator.pk, key=key)
    assert (budget.cap, budget.spent) == (900, 10 + 30)  # held, and captured; released and refunded count nothing
