"""Ops' admin: every model is there and loads, and credit grants go through the ledger."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry
from studio.services.takes import shot_take_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):
    ops = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-123")
    client.force_login(ops)
    return client, ops


def test_every_project_model_is_registered():
    from django.apps import apps

    ours = [model for app in ("studio", "cuts", "jobs", "providers", "billing") for model in apps.get_app_config(app).get_models()]
    assert [model for model in ours if model not in admin.site._registry] == []


def test_every_changelist_and_change_page_loads(ops_client, catalog, creator, shot):
    client, _ = ops_client
    shot_take_request(user=creator, shot=shot)
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        search = client.get(changelist, {"q": "x"}) if model_admin.search_fields else None
        assert search is None or search.status_code == 200, changelist
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert client.get(change).status_code == 200, change


def test_a_grant_from_the_admin_is_a_ledger_entry_with_its_author(ops_client, creator):
    client, ops = ops_client
    account = CreditAccount.objects.get(user=creator)
    url = reverse("admin:billing_creditaccount_grant", args=[account.pk])
    response = client.post(url, {"amount": 250, "reason": "Festival winner"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.filter(kind="grant").latest("id")
    assert (entry.amount, entry.reason, entry.created_by) == (250, "Festival winner", ops)
    assert CreditAccount.objects.get(pk=account.pk).balance == 750


def test_a_grant_without_a_reason_is_refused(ops_client, creator):
    client, _ = ops_client
    account = CreditAccount.objects.get(user=creator)
    response = client.post(reverse("admin:billing_creditaccount_grant", args=[account.pk]), {"amount": 10, "reason": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert CreditAccount.objects.get(pk=account.pk).balance == 500


def test_ledger_rows_cannot_be_edited_in_the_admin(ops_client, creator):
    client, _ = ops_client
    entry = LedgerEntry.objects.first()
    response = client.post(reverse("admin:billing_ledgerentry_change", args=[entry.pk]), {"amount": 9999})
    assert response.status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 500
