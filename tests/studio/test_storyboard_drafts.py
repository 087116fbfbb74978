"""Drafting the whole storyboard from the project page: one price, all or nothing, once per click."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.exceptions import InsufficientCredits
from billing.models import LedgerEntry, Plan, Reservation
from billing.services import credits_adjust
from jobs.models import Take
from jobs.pipeline.request import _idempotency_key_claimed
from jobs.states import TakeState
from providers.models import ProviderModel
from studio.services.projects import project_budget_set
from studio.services.storyboard import _drafts_request, draft_idempotency_key, storyboard_draft_quote
from studio.services.takes import shot_take_quote, shot_take_request, take_reject
from tests.conftest import run_commit_callbacks_except_enqueue
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_run_and_evaluate

HTMX = {"HTTP_HX_REQUEST": "true"}


def drafts_panel(client, project, scope: str = "") -> str:
    query = {"scope": scope} if scope else {}
    response = client.get(reverse("storyboard-drafts", args=[project.pk]), query, **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def draft_form_data(html: str) -> dict:
    """What the panel's Draft form would post: the batch key, the shots and the total it shows."""
    form = re.search(r'<form class="draft-bar-action".*?</form>', html, re.S).group(0)
    return {
        "batch_key": re.search(r'name="batch_key" value="([^"]+)"', form).group(1),
        "shown_credits": re.search(r'name="shown_credits" value="([^"]+)"', form).group(1),
        "scope": re.search(r'name="scope" value="([^"]+)"', form).group(1),
        "shots": re.findall(r'name="shots" value="(\d+)"', form),
    }


def draft_button(html: str) -> str:
    return re.search(r'<form class="draft-bar-action".*?(<button[^>]*>[^<]*</button>)', html, re.S).group(1)


def ready_take_of(creator, shot, key: str) -> Take:
    take = shot_take_request(user=creator, shot=shot, idempotency_key=key)
    take_run_and_evaluate(take.pk)
    take.refresh_from_db()
    assert take.state == TakeState.READY, take.failure_reason
    return take


def reserve_count(user) -> int:
    return LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.RESERVE).count()


@pytest.fixture
def storyboard(project):
    """Four shots: one with a ready draft, one rendering, one whose draft was rejected, one untouched."""
    return [shot_for(project, title=title, duration_seconds=seconds)
            for title, seconds in (("Opening", 1), ("Market", 2), ("Lantern", 1), ("Finale", 5))]


# --- The price, before the click ----------------------------------------------------------------


def test_the_storyboard_page_loads_the_drafts_panel_after_the_page(creator_client, project, shot):
    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    panel = re.search(r'<section id="storyboard-drafts"[^>]*>', html).group(0)
    assert f'hx-get="{reverse("storyboard-drafts", args=[project.pk])}"' in panel and 'hx-trigger="load"' in panel
    assert "Draft the whole storyboard" in html


def test_an_empty_storyboard_has_no_drafts_panel(creator_client, project):
    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    assert 'id="storyboard-drafts"' not in html


def test_only_shots_without_a_draft_are_priced_by_default(creator_client, creator, storyboard):
    opening, market, lantern, finale = storyboard
    ready_take_of(creator, opening, "opening-ready")
    shot_take_request(user=creator, shot=market, idempotency_key="market-rendering")
    take_reject(take=ready_take_of(creator, lantern, "lantern-rejected"))
    expected = [shot_take_quote(shot=lantern).credits, shot_take_quote(shot=finale).credits]

    html = drafts_panel(creator_client, opening.project)

    assert f"Draft 2 shots · {sum(expected)} credits" in draft_button(html)
    assert "disabled" not in draft_button(html)
    assert draft_form_data(html)["shots"] == [str(lantern.pk), str(finale.pk)]
    assert draft_form_data(html)["shown_credits"] == str(sum(expected))
    table = re.search(r'<table class="draft-table">.*?</table>', html, re.S).group(0)
    assert "3. Lantern" in table and "4. Finale" in table and "Opening" not in table and "Market" not in table
    assert f'<td class="num">{expected[0]}</td>' in table and f'<td class="num">{sum(expected)}</td>' in table
    assert "Animatic (local)" in table


def test_every_shot_can_be_chosen_instead(creator_client, creator, storyboard):
    shot_take_request(user=creator, shot=storyboard[0], idempotency_key="rendering")
    total = sum(shot_take_quote(shot=shot).credits for shot in storyboard)

    html = drafts_panel(creator_client, storyboard[0].project, scope="all")

    assert f"Draft 4 shots · {total} credits" in draft_button(html)
    assert re.search(r'<input type="radio" name="scope" value="all" checked>', html)


def test_a_storyboard_whose_shots_all_have_drafts_offers_nothing_to_draft(creator_client, creator, shot):
    shot_take_request(user=creator, shot=shot, idempotency_key="rendering")

    html = drafts_panel(creator_client, shot.project)

    assert "Every shot has a draft ready or rendering." in html
    assert "disabled" in draft_button(html) and "Nothing to draft" in draft_button(html)


def test_pricing_the_storyboard_without_htmx_renders_the_whole_page(creator_client, project, storyboard):
    html = creator_client.get(reverse("storyboard-drafts", args=[project.pk]), {"scope": "all"}).content.decode()

    assert "<html" in html and "Draft 4 shots" in html and 'id="characters"' in html


def test_too_few_credits_disable_the_button_and_say_why(client, db):
    poor = creator_create(username="poor", credits=0)
    project = project_for(poor)
    shots = [shot_for(project, title=f"Shot {n}") for n in range(3)]
    one_price = shot_take_quote(shot=shots[0]).credits
    credits_adjust(user=poor, amount=one_price * 2, reason="enough for two of three", created_by=None)
    client.force_login(poor)

    html = drafts_panel(client, project)

    button = draft_button(html)
    assert "disabled" in button and 'aria-describedby="drafts-blocked"' in button and "Not enough credits" in button
    assert (f"Not enough credits: 3 drafts hold {one_price * 3} credits while they render and you have "
            f"{one_price * 2} available.") in html


def test_a_budget_that_does_not_cover_the_batch_disables_the_button(creator_client, creator, project, storyboard):
    prices = [shot_take_quote(shot=shot).credits for shot in storyboard]
    project_budget_set(user=creator, project=project, cap_credits=sum(prices) - 1)

    html = drafts_panel(creator_client, project)

    assert "Over the project budget" in draft_button(html) and "disabled" in draft_button(html)
    assert (f"Over this project's budget: 0 of its {sum(prices) - 1} credits are spent or held, and 4 drafts need "
            f"{sum(prices)} more. Raise the budget") in unescape(html)


def test_the_plan_limit_on_takes_at_once_is_said_for_the_batch(creator_client, project):
    for number in range(6):  # the Free plan runs five takes at once
        shot_for(project, title=f"Shot {number + 1}")

    html = drafts_panel(creator_client, project)

    assert "Over your plan's limit" in unescape(draft_button(html))
    assert "runs at most 5 takes at once" in html and "This batch would start 6 drafts at once." in html


def test_the_plans_daily_spend_cap_is_said_for_the_batch(creator_client, project, storyboard):
    Plan.objects.filter(slug=Plan.FREE).update(daily_spend_cap_credits=10)

    html = unescape(drafts_panel(creator_client, project))

    assert "Over your plan's limit" in draft_button(html) and "disabled" in draft_button(html)
    assert "Your Free plan spends at most 10 credits a day (UTC)" in html


def test_a_shot_no_provider_can_render_is_listed_with_its_reason(creator_client, project, storyboard):
    ProviderModel.objects.filter(slug="local-animatic").update(max_duration_seconds=4)

    html = drafts_panel(creator_client, project)

    assert "Draft 3 shots" in draft_button(html)
    skipped = re.search(r'<div class="draft-skipped".*?</div>', html, re.S).group(0)
    assert "1 shot will be skipped" in skipped and "Shot 4 · Finale" in skipped
    assert "5 s is longer than its 4 s maximum" in skipped
    assert str(storyboard[3].pk) not in draft_form_data(html)["shots"]


def test_pricing_is_read_only(creator_client, creator, project, storyboard):
    entries = LedgerEntry.objects.count()

    drafts_panel(creator_client, project, scope="all")

    assert not Take.objects.exists() and LedgerEntry.objects.count() == entries


# --- The click ----------------------------------------------------------------------------------


def test_drafting_requests_one_take_per_shot_under_keys_derived_from_the_batch(
        creator_client, creator, project, storyboard):
    form = draft_form_data(drafts_panel(creator_client, project))

    response = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    takes = list(Take.objects.order_by("shot__position"))
    assert [take.shot_id for take in takes] == [shot.pk for shot in storyboard]
    assert [take.idempotency_key for take in takes] == [
        draft_idempotency_key(batch_key=form["batch_key"], shot_id=shot.pk) for shot in storyboard]
    assert all(take.state == TakeState.QUEUED and take.tier == Take.Tier.DRAFT for take in takes)
    assert reserve_count(creator) == 4
    assert {r.budget_key for r in Reservation.objects.all()} == {project.budget_key}
    credits = sum(take.price_credits for take in takes)
    assert str(credits) == form["shown_credits"]
    assert f"4 drafts requested · {credits} credits." in html
    assert html.count('data-status="working"') == 4  # the shot cards, swapped out of band
    assert "Every shot has a draft ready or rendering." in html  # the panel, priced again
    assert draft_form_data(html)["batch_key"] != form["batch_key"]  # the next click is a new batch
    assert 'id="credit-balance"' in html and 'id="project-budget-meter"' in html


def test_a_double_click_makes_one_batch(creator_client, creator, project, storyboard):
    form = draft_form_data(drafts_panel(creator_client, project))
    url = reverse("storyboard-drafts-request", args=[project.pk])

    first = creator_client.post(url, form, **HTMX)
    second = creator_client.post(url, form, **HTMX)

    assert first.status_code == second.status_code == 200
    assert Take.objects.count() == 4 and reserve_count(creator) == 4
    assert "4 drafts requested" in second.content.decode()


def test_the_same_batch_sent_twice_at_once_is_answered_by_the_first(creator_client, creator, project, storyboard):
    form = draft_form_data(drafts_panel(creator_client, project))
    first_key = draft_idempotency_key(batch_key=form["batch_key"], shot_id=storyboard[0].pk)

    with _idempotency_key_claimed(owner_id=creator.pk, idempotency_key=first_key):  # the first POST, still running
        response = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, **HTMX)

    assert response.status_code == 422
    assert "These drafts are already being requested" in response.content.decode()
    assert not Take.objects.exists() and reserve_count(creator) == 0


def test_a_repeat_when_the_first_batch_spent_most_credits_is_still_the_same_batch(client, db):
    creator = creator_create(username="tight", credits=0)
    project = project_for(creator)
    shots = [shot_for(project, title=f"Shot {n}") for n in range(2)]
    credits_adjust(user=creator, amount=sum(shot_take_quote(shot=s).credits for s in shots), reason="exact",
                   created_by=None)
    client.force_login(creator)
    form = draft_form_data(drafts_panel(client, project))
    url = reverse("storyboard-drafts-request", args=[project.pk])

    client.post(url, form, **HTMX)
    second = client.post(url, form, **HTMX)

    assert second.status_code == 200 and "2 drafts requested" in second.content.decode()
    assert Take.objects.count() == 2


def test_too_few_credits_request_nothing(client, db):
    poor = creator_create(username="poor", credits=0)
    project = project_for(poor)
    shots = [shot_for(project, title=f"Shot {n}") for n in range(3)]
    credits_adjust(user=poor, amount=shot_take_quote(shot=shots[0]).credits * 2, reason="two of three", created_by=None)
    client.force_login(poor)
    form = draft_form_data(drafts_panel(client, project))
    entries = LedgerEntry.objects.filter(account__user=poor).count()

    response = client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, **HTMX)

    assert response.status_code == 422
    assert "Not enough credits: 3 drafts hold" in response.content.decode()
    assert not Take.objects.exists()
    assert LedgerEntry.objects.filter(account__user=poor).count() == entries


def test_credits_gone_between_the_check_and_the_request_roll_back_every_reservation(creator, project, storyboard):
    quote = storyboard_draft_quote(project=project)
    credits_adjust(user=creator, amount=-(500 - quote.hold_credits + 1), reason="spent elsewhere", created_by=None)
    keys = {shot.pk: f"race-{shot.pk}" for shot in storyboard}
    entries = LedgerEntry.objects.count()

    with pytest.raises(InsufficientCredits):
        _drafts_request(user=creator, quote=quote, keys=keys)

    assert not Take.objects.exists()
    assert LedgerEntry.objects.count() == entries and not Reservation.objects.exists()


def test_a_price_that_went_up_since_it_was_shown_is_refused(creator_client, project, storyboard):
    form = draft_form_data(drafts_panel(creator_client, project))

    response = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]),
                                   {**form, "shown_credits": int(form["shown_credits"]) - 1}, **HTMX)

    assert response.status_code == 422
    assert "The price changed since it was shown" in response.content.decode()
    assert not Take.objects.exists()


def test_unroutable_shots_are_skipped_and_the_rest_drafted(creator_client, creator, project, storyboard):
    ProviderModel.objects.filter(slug="local-animatic").update(max_duration_seconds=4)
    form = draft_form_data(drafts_panel(creator_client, project, scope="all"))

    response = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, **HTMX)

    assert response.status_code == 200
    assert sorted(Take.objects.values_list("shot_id", flat=True)) == [shot.pk for shot in storyboard[:3]]
    assert "3 drafts requested" in response.content.decode()


def test_a_budget_too_small_for_the_batch_requests_nothing(creator_client, creator, project, storyboard):
    form = draft_form_data(drafts_panel(creator_client, project))
    project_budget_set(user=creator, project=project, cap_credits=int(form["shown_credits"]) - 1)

    response = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, **HTMX)

    assert response.status_code == 422
    assert "Over this project" in response.content.decode()
    assert not Take.objects.exists() and reserve_count(creator) == 0


def test_drafting_without_htmx_redirects_with_a_message(creator_client, project, storyboard):
    form = draft_form_data(drafts_panel(creator_client, project))

    response = creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, follow=True)

    assert response.redirect_chain == [(reverse("project-detail", args=[project.pk]), 302)]
    assert "4 drafts requested" in response.content.decode()
    assert Take.objects.count() == 4


def test_a_form_without_a_batch_key_or_with_foreign_shots_requests_nothing(creator_client, creator, project, shot):
    foreign = shot_for(project_for(creator_create(username="other")))
    url = reverse("storyboard-drafts-request", args=[project.pk])

    no_key = creator_client.post(url, {"shots": [shot.pk], "shown_credits": 999}, **HTMX)
    other = creator_client.post(url, {"shots": [foreign.pk], "shown_credits": 999, "batch_key": "0" * 32}, **HTMX)

    assert no_key.status_code == other.status_code == 422
    assert "Nothing was requested" in no_key.content.decode()
    assert "Select a valid choice" in other.content.decode()
    assert not Take.objects.exists()


def test_another_creators_storyboard_is_404(client, project, shot):
    client.force_login(creator_create(username="mallory"))

    assert client.get(reverse("storyboard-drafts", args=[project.pk]), **HTMX).status_code == 404
    response = client.post(reverse("storyboard-drafts-request", args=[project.pk]),
                           {"shots": [shot.pk], "shown_credits": 999, "batch_key": "0" * 32}, **HTMX)
    assert response.status_code == 404 and not Take.objects.exists()


# --- Live on the storyboard ---------------------------------------------------------------------


def test_each_drafted_take_is_announced_and_its_shot_card_shows_it_rendering(
        creator_client, creator, project, storyboard, group_listener, django_capture_on_commit_callbacks):
    listener = group_listener(project.notify_group)
    form = draft_form_data(drafts_panel(creator_client, project))

    with django_capture_on_commit_callbacks() as callbacks:
        creator_client.post(reverse("storyboard-drafts-request", args=[project.pk]), form, **HTMX)
    run_commit_callbacks_except_enqueue(callbacks)

    events = listener.collect(4)
    announced = sorted(int(re.search(r'<article id="take-(\d+)"', event["html"]).group(1)) for event in events)
    assert announced == sorted(Take.objects.values_list("pk", flat=True))
    card = re.search(r'<article id="shot-\d+"[^>]*hx-swap-oob="true".*?</article>', events[0]["html"], re.S).group(0)
    assert 'data-status="working"' in card and "Rendering · 0%" in card and "1 take" in card


def test_the_storyboard_query_count_does_not_grow_with_shot_states(creator_client, creator, project, storyboard, settings):
    # Every page rendered in full, every card too: the page and card caches (tests/studio/test_storyboard_cache.py) are off.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    url = reverse("project-detail", args=[project.pk])
    with CaptureQueriesContext(connection) as before:
        creator_client.get(url)
    ready_take_of(creator, storyboard[0], "ready")
    shot_take_request(user=creator, shot=storyboard[1], idempotency_key="rendering")

    with CaptureQueriesContext(connection) as after:
        html = creator_client.get(url).content.decode()

    assert len(after.captured_queries) == len(before.captured_queries)
    assert 'data-status="ready"' in html and "Draft ready · review" in html and 'data-status="working"' in html
    ready = Take.objects.get(idempotency_key="ready")
    assert f'class="shot-thumb-draft" src="{ready.thumbnail.url}"' in html  # the draft waiting for review
