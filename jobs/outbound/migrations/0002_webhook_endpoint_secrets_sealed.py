"""Endpoint secrets sealed at rest: the columns widen for Fernet tokens, then every secret stored
in plain text is sealed (and opened again on the way back). Raw SQL: the field itself would try
to open the plain values it reads."""

from django.db import migrations

import jobs.outbound.sealing

PLAIN_PREFIX = "whsec_"  # what jobs.outbound.signing makes; a sealed value is a Fernet token ("gAAAA…")


def secrets_seal(apps, schema_editor):
    _secrets_rewrite(apps, schema_editor, pending=lambda value: value.startswith(PLAIN_PREFIX),
                     change=jobs.outbound.sealing.secret_seal)


def secrets_unseal(apps, schema_editor):
    _secrets_rewrite(apps, schema_editor, pending=lambda value: bool(value) and not value.startswith(PLAIN_PREFIX),
                     change=jobs.outbound.sealing.secret_unseal)


def _secrets_rewrite(apps, schema_editor, *, pending, change):
    table = schema_editor.quote_name(apps.get_model("outbound", "WebhookEndpoint")._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, secret, previous_secret FROM {table}")  # noqa: S608 - the table name is ours
        rows = cursor.fetchall()
        for pk, secret, previous in rows:
            if not (pending(secret) or pending(previous)):
                continue
            cursor.execute(f"UPDATE {table} SET secret = %s, previous_secret = %s WHERE id = %s",  # noqa: S608
                           [change(secret) if pending(secret) else secret,
                            change(previous) if pending(previous) else previous, pk])


class Migration(migrations.Migration):

    dependencies = [
        ('outbound', '0001_webhook_outbox'),
    ]

    operations = [
        migrations.AlterField(
            model_name='webhookendpoint',
            name='previous_secret',
            field=jobs.outbound.sealing.SealedSecretField(blank=True, editable=False, max_length=255),
        ),
        migrations.AlterField(
            model_name='webhookendpoint',
            name='secret',
            field=jobs.outbound.sealing.SealedSecretField(editable=False, help_text='Sealed at rest (jobs/outbound/sealing.py)', max_length=255),
        ),
        migrations.RunPython(secrets_seal, secrets_unseal),
    ]
