"""A project's spending cap: set, changed and removed from the storyboard page, and enforced on takes."""

import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry, SpendBudget
from billing.selectors import spend_budget_usage
from jobs.models import Take
from studio.consumers import ProjectConsumer
from studio.services.projects import project_budget_set
from studio.services.takes import shot_take_quote, shot_take_request
from tests.factories import creator_create

HTMX = {"HTTP_HX_REQUEST": "true"}


def budget_of(project) -> SpendBudget | None:
    return SpendBudget.objects.filter(key=project.budget_key).first()


def cap_input(html: str) -> str:
    return re.search(r'<input type="number" name="cap_credits"[^>]*>', html).group(0)


def test_a_project_without_a_cap_shows_what_it_has_spent(creator_client, creator, project, shot):
    take = shot_take_request(user=creator, shot=shot, idempotency_key="one")

    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    assert 'data-state="open"' in html and f"{take.price_credits}</strong> credits spent" in html
    assert "No cap: this project’s takes can use your whole balance." in html
    assert re.search(r"<button[^>]*>Set cap</button>", html) and "Remove cap" not in html


def test_setting_a_cap_shows_spent_against_it(creator_client, creator, project, shot):
    take = shot_take_request(user=creator, shot=shot, idempotency_key="one")

    response = creator_client.post(reverse("project-budget", args=[project.pk]), {"cap_credits": "1000"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "budget-changed"
    assert budget_of(project).cap_credits == 1000 and budget_of(project).account.user == creator
    assert f"{take.price_credits}</strong> of 1,000 credits" in html
    assert f'aria-valuenow="{take.price_credits}"' in html and 'aria-valuemax="1000"' in html
    assert f"{1000 - take.price_credits:,} credits left" in html
    assert "Budget set: “Night market” may spend up to 1,000 credits." in html  # the message, out of band
    assert 'value="1000"' in cap_input(html) and "Change cap" in html and "Remove cap" in html


def test_changing_and_removing_the_cap(creator_client, creator, project):
    url = reverse("project-budget", args=[project.pk])
    creator_client.post(url, {"cap_credits": "1000"}, **HTMX)

    creator_client.post(url, {"cap_credits": "250"}, **HTMX)
    assert budget_of(project).cap_credits == 250 and SpendBudget.objects.count() == 1

    response = creator_client.post(url, {"cap_credits": "250", "clear": "1"}, **HTMX)
    assert response.status_code == 200 and budget_of(project) is None
    html = response.content.decode()
    assert "Budget removed: “Night market” has no spending cap." in html and 'data-state="open"' in html


@pytest.mark.parametrize("typed, error", [
    ("", "Enter a cap in credits, or remove the cap."),
    ("lots", "Enter a whole number of credits, like 1000."),
    ("12.5", "Enter a whole number of credits, like 1000."),
    ("0", "A cap is at least 1 credit."),
    ("-40", "A cap is at least 1 credit."),
    ("100000001", "A cap can be at most 100,000,000 credits."),
])
def test_bad_caps_are_refused_clearly_and_change_nothing(creator_client, creator, project, typed, error):
    project_budget_set(user=creator, project=project, cap_credits=300)

    response = creator_client.post(reverse("project-budget", args=[project.pk]), {"cap_credits": typed}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 422
    assert error in html and 'class="field-error"' in html
    assert f'value="{typed}"' in cap_input(html) if typed else "value=" not in cap_input(html)  # nothing typed is lost
    assert budget_of(project).cap_credits == 300
    assert "of 300 credits" in html and "HX-Trigger" not in response


def test_without_htmx_a_cap_redirects_and_a_bad_one_renders_the_page(creator_client, project):
    url = reverse("project-budget", args=[project.pk])

    good = creator_client.post(url, {"cap_credits": "500"}, follow=True)
    bad = creator_client.post(url, {"cap_credits": "five hundred"})

    assert good.redirect_chain == [(reverse("project-detail", args=[project.pk]), 302)]
    assert "may spend up to 500 credits" in good.content.decode()
    assert bad.status_code == 422 and "<html" in bad.content.decode()
    assert "Enter a whole number of credits" in bad.content.decode()
    assert 'value="five hundred"' in cap_input(bad.content.decode())
    assert budget_of(project).cap_credits == 500


def test_a_used_up_budget_says_so(creator_client, creator, project, shot):
    take = shot_take_request(user=creator, shot=shot, idempotency_key="one")
    project_budget_set(user=creator, project=project, cap_credits=take.price_credits)

    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    assert 'data-state="over"' in html and 'data-percent="100"' in html
    assert "Budget used up: new takes in this project are refused until you raise the cap." in html


def test_a_take_over_the_budget_is_refused_on_the_shot_page_with_the_reason(creator_client, creator, project, shot):
    price = shot_take_quote(shot=shot).credits
    shot_take_request(user=creator, shot=shot, idempotency_key="first")
    project_budget_set(user=creator, project=project, cap_credits=price + 1)
    entries = LedgerEntry.objects.count()

    response = creator_client.post(reverse("take-create", args=[shot.pk]), {"idempotency_key": "second"}, **HTMX)

    assert response.status_code == 422
    assert (f"This project's budget is {price + 1} credits; {price} are already spent or held and this needs "
            f"{price}. Raise the budget to continue.") in unescape(response.content.decode())
    assert 'id="generate-panel"' in response.content.decode()
    assert Take.objects.count() == 1 and LedgerEntry.objects.count() == entries


def test_released_takes_give_their_credits_back_to_the_budget(creator, project, shot):
    from jobs.pipeline.settle import take_cancel

    take = shot_take_request(user=creator, shot=shot, idempotency_key="one")
    assert spend_budget_usage(user_id=creator.pk, key=project.budget_key).spent == take.price_credits

    take_cancel(take_id=take.pk)

    assert spend_budget_usage(user_id=creator.pk, key=project.budget_key).spent == 0


def test_another_creators_budget_cannot_be_set(client, project):
    client.force_login(creator_create(username="mallory"))

    response = client.post(reverse("project-budget", args=[project.pk]), {"cap_credits": "1"}, **HTMX)

    assert response.status_code == 404 and not SpendBudget.objects.exists()


def test_the_live_balance_update_carries_the_budget_meter(creator, project, shot):
    project_budget_set(user=creator, project=project, cap_credits=400)
    take = shot_take_request(user=creator, shot=shot, idempotency_key="one")
    consumer = ProjectConsumer()
    consumer.user_id, consumer.project_id = creator.pk, project.pk

    html = consumer._render_credits()

    assert re.search(r'<span id="credit-balance"[^>]*hx-swap-oob="true"', html)
    tag = re.search(r'<div id="project-budget-meter"[^>]*>', html).group(0)
    assert 'hx-swap-oob="true"' in tag and "data-live-oob" in tag
    assert f"{take.price_credits}</strong> of 400 credits" in html


def test_the_admin_lists_project_budgets(client, creator, project):
    project_budget_set(user=creator, project=project, cap_credits=750)
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-123"))

    html = client.get(reverse("admin:billing_spendbudget_changelist")).content.decode()

    assert project.budget_key in html and "750" in html and str(CreditAccount.objects.get(user=creator)) in html


def test_the_meter_template_without_a_budget_renders_nothing_live(creator):
    html = render_to_string("studio/live/credits_changed.html",
                            {"credit_account": CreditAccount.objects.get(user=creator)})

    assert "project-budget-meter" not in html
