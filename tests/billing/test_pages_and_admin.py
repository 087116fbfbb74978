"""The creator's credits page, receipts, and ops' billing admin (grants, adjustments, plans,
refunds, margin and reconciliation reports), all through the billing services."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry, Plan, Refund
from billing.purchases import purchase_test_checkout
from billing.reports import credit_spend_by_day, credit_spend_by_provider, margin_report
from billing.services import credits_reserve
from jobs.pipeline.settle import take_credits_capture
from studio.services.takes import shot_take_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):
    ops = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-123")
    client.force_login(ops)
    return client


@pytest.fixture
def charged_take(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_credits_capture(take)  # as the pipeline charges a ready take: the reservation notes provider, tier, cost
    take.refresh_from_db()
    return take


def test_credits_page_shows_balance_history_chart_and_packs(creator_client, creator, charged_take, settings):
    settings.BILLING_TEST_CHECKOUT = True
    response = creator_client.get(reverse("credits"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-current="page">Credits' in html
    assert "Free</strong> plan" in html and "Starter pack" in html and "Development only: no money moves" in html
    assert f"-{charged_take.price_credits}" in html  # the capture in the history
    assert charged_take.provider_model.name in html  # spend by provider
    assert html.count('class="spend-day"') == 30  # one bar per day


def test_history_is_filterable_by_kind_and_paginated(creator_client, creator):
    Plan.objects.filter(slug="free").update(concurrency_limit=None)
    for number in range(30):
        with transaction.atomic():
            credits_reserve(user_id=creator.pk, amount=1, reference=f"take:{number}")
    grants = creator_client.get(reverse("credits"), {"kind": "grant"}).content.decode()
    assert "Page 1 of 1" in grants and "<td>test credits</td>" in grants and "<td>take:0</td>" not in grants
    everything = creator_client.get(reverse("credits")).content.decode()
    assert "Page 1 of 2" in everything
    assert "Page 2 of 2" in creator_client.get(reverse("credits"), {"page": 2}).content.decode()
    assert creator_client.get(reverse("credits"), {"kind": "bogus"}).status_code == 200


def test_low_balance_warning(creator_client, settings):
    settings.BILLING_LOW_BALANCE_CREDITS = 1_000  # the creator has 500
    assert "Your balance is low" in creator_client.get(reverse("credits")).content.decode()


def test_credits_page_needs_a_login(client):
    response = client.get(reverse("credits"))
    assert response.status_code == 302 and "login" in response.url


def test_receipt_shows_a_test_purchase_clearly(creator_client, creator):
    from billing.models import CreditPack

    purchase = purchase_test_checkout(user=creator, pack=CreditPack.objects.get(slug="starter"))
    html = creator_client.get(reverse("credits-receipt", args=[purchase.pk])).content.decode()
    assert "Test purchase — development only" in html and "$10.00 USD" in html and "Paid, credits added" in html


def test_spend_reports(creator, charged_take):
    by_day = credit_spend_by_day(user_id=creator.pk, days=7)
    assert len(by_day) == 7 and by_day[-1].credits == charged_take.price_credits and by_day[-1].percent == 100
    assert [(bar.label, bar.credits) for bar in credit_spend_by_provider(user_id=creator.pk)] == [
        (charged_take.provider_model.name, charged_take.price_credits)]


def test_a_captured_reservation_records_what_it_charged_for(charged_take):
    reservation = charged_take.reservation
    assert (reservation.provider, reservation.tier, reservation.provider_cost_usd_micros) == (
        charged_take.provider_model.name, "draft", charged_take.provider_cost_usd_micros)


def test_margin_report_nets_refunds_but_keeps_their_cost(creator, charged_take, settings):
    from datetime import timedelta

    from django.utils import timezone

    window = dict(start=timezone.now() - timedelta(days=1), end=timezone.now() + timedelta(days=1))
    [row] = margin_report(**window)
    assert (row.provider, row.tier, row.takes, row.charged_credits) == (
        charged_take.provider_model.name, "draft", 1, charged_take.price_credits)
    assert row.charged_usd == charged_take.price_credits * settings.CREDIT_VALUE_USD_DECIMAL
    assert row.provider_cost_usd == Decimal(charged_take.provider_cost_usd_micros) / 1_000_000
    from billing.services import credits_refund

    credits_refund(reservation_id=charged_take.reservation_id, reason="broken_output")
    [row] = margin_report(**window)
    assert (row.charged_credits, row.refunded_credits, row.charged_usd) == (0, charged_take.price_credits, 0)
    assert row.margin_usd == -row.provider_cost_usd


def test_admin_adjust_plan_refund_and_reports(ops_client, creator, charged_take):
    account = CreditAccount.objects.get(user=creator)
    before = account.balance
    url = reverse("admin:billing_creditaccount_adjust", args=[account.pk])
    assert ops_client.post(url, {"amount": -7, "reason": "duplicate grant"}).status_code == 302
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert (entry.amount, entry.reason, entry.created_by.username) == (-7, "duplicate grant", "ops")
    too_much = ops_client.post(url, {"amount": -1_000_000, "reason": "oops"})
    assert too_much.status_code == 200 and b"available" in too_much.content

    studio = Plan.objects.get(slug="studio")
    ops_client.post(reverse("admin:billing_creditaccount_plan", args=[account.pk]), {"plan": studio.pk})
    assert CreditAccount.objects.get(pk=account.pk).plan == studio

    refund_url = reverse("admin:billing_reservation_refund", args=[charged_take.reservation_id])
    ops_client.post(refund_url, {"reason": "safety_blocked", "note": "moderation"})
    ops_client.post(refund_url, {"reason": "safety_blocked", "note": "again"})
    assert Refund.objects.get().created_by.username == "ops"
    assert CreditAccount.objects.get(pk=account.pk).balance == before - 7 + charged_take.price_credits

    margin = ops_client.get(reverse("admin:billing_margin_report"))
    assert margin.status_code == 200 and charged_take.provider_model.name.encode() in margin.content
    reconciliation = ops_client.get(reverse("admin:billing_reconciliation_report"))
    assert b"Every account" in reconciliation.content
    CreditAccount.objects.filter(pk=account.pk).update(balance=1)
    assert b"differ from their ledger" in ops_client.get(reverse("admin:billing_reconciliation_report")).content


def test_plans_and_packs_are_editable_in_the_admin(ops_client):
    free = Plan.objects.get(slug="free")
    response = ops_client.post(reverse("admin:billing_plan_change", args=[free.pk]), {
        "slug": "free", "name": "Free", "markup_draft": "3.100", "markup_final": "3.200",
        "concurrency_limit": "3", "daily_spend_cap_credits": "1000"})
    assert response.status_code == 302
    free.refresh_from_db()
    assert (free.markup_draft, free.concurrency_limit) == (Decimal("3.100"), 3)
