"""Captured reservations made before billing recorded what they charged for: copy the provider,
tier and provider cost from their takes, so the margin and spend reports keep their history.
Jobs may write billing's rows here (jobs → billing); billing itself never reads jobs' tables."""

from django.db import migrations


def reservation_charges_backfill(apps, schema_editor):
    Take = apps.get_model("jobs", "Take")
    Reservation = apps.get_model("billing", "Reservation")
    captured = (Take.objects.filter(reservation__state="captured", reservation__provider="")
                .select_related("provider_model").only("tier", "provider_cost_usd_micros", "reservation_id",
                                                      "provider_model__name"))
    for take in captured.iterator():
        Reservation.objects.filter(pk=take.reservation_id).update(
            provider=take.provider_model.name if take.provider_model_id else "", tier=take.tier,
            provider_cost_usd_micros=take.provider_cost_usd_micros,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0009_attempt_sends"),
        ("billing", "0005_reservation_provider_tier_cost"),
    ]

    operations = [migrations.RunPython(reservation_charges_backfill, migrations.RunPython.noop)]
