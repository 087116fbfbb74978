"""Endpoint secrets are sealed at rest under a key derived from SECRET_KEY: the database column never
holds the secret, the model always gives it back, a key rotation keeps it readable, and the migration
seals the secrets stored in plain text before it."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from jobs.outbound.endpoints import webhook_endpoint_create, webhook_endpoint_secret_rotate, webhook_secrets_reseal
from jobs.outbound.models import WebhookEndpoint
from jobs.outbound.sealing import SecretUnsealable

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("jobs.outbound.migrations.0002_webhook_endpoint_secrets_sealed")


def stored(endpoint_id: int) -> tuple[str, str]:
    """The (secret, previous_secret) columns as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret, previous_secret FROM {WebhookEndpoint._meta.db_table} WHERE id = %s", [endpoint_id])
        return cursor.fetchone()


def endpoint_for(creator):
    return webhook_endpoint_create(owner=creator, url="http://127.0.0.1:9/hook", event_kinds=["credits.low"])


def test_the_database_holds_sealed_secrets_and_the_model_the_plain_ones(creator):
    created = endpoint_for(creator)
    first = created.secret
    rotated = webhook_endpoint_secret_rotate(endpoint=created.endpoint)

    secret_column, previous_column = stored(created.endpoint.pk)
    assert first.startswith("whsec_") and rotated.secret.startswith("whsec_")
    for column in (secret_column, previous_column):
        assert column.startswith("gAAAA") and "whsec_" not in column
        assert first not in column and rotated.secret not in column
    endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
    assert (endpoint.secret, endpoint.previous_secret) == (rotated.secret, first)


def test_a_secret_key_rotation_keeps_secrets_readable_and_reseal_moves_them_to_the_new_key(creator, settings):
    created = endpoint_for(creator)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-after-rotation", []
    with pytest.raises(SecretUnsealable, match="not in SECRET_KEY_FALLBACKS"):
        WebhookEndpoint.objects.get(pk=created.endpoint.pk)

    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert WebhookEndpoint.objects.get(pk=created.endpoint.pk).secret == created.secret
    assert webhook_secrets_reseal() == 1
    settings.SECRET_KEY_FALLBACKS = []  # the old key gone for good
    assert WebhookEndpoint.objects.get(pk=created.endpoint.pk).secret == created.secret


def test_the_migration_seals_secrets_stored_in_plain_text_and_its_reverse_opens_them(creator):
    endpoint = endpoint_for(creator).endpoint
    plain = "whsec_c3RvcmVkIGluIHBsYWluIHRleHQgYmVmb3JlIHRoZSBtaWdyYXRpb24="
    with connection.cursor() as cursor:  # a row as the app stored it before secrets were sealed
        cursor.execute(f"UPDATE {WebhookEndpoint._meta.db_table} SET secret = %s, previous_secret = '' WHERE id = %s",
                       [plain, endpoint.pk])

    with connection.schema_editor() as editor:
        MIGRATION.secrets_seal(apps, editor)
        MIGRATION.secrets_seal(apps, editor)  # a second run changes nothing
    assert stored(endpoint.pk)[0].startswith("gAAAA") and stored(endpoint.pk)[1] == ""
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == plain

    with connection.schema_editor() as editor:
        MIGRATION.secrets_unseal(apps, editor)
    assert stored(endpoint.pk) == (plain, "")
