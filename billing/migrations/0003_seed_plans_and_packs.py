"""The launch plans and credit packs. Ops edit them in the admin afterwards."""

from decimal import Decimal

from django.db import migrations

PLANS = [
    # slug, name, draft markup, final markup, concurrency, daily cap (credits)
    ("free", "Free", Decimal("3.000"), Decimal("3.000"), 5, 2_000),
    ("creator", "Creator", Decimal("2.750"), Decimal("2.900"), 10, 50_000),
    ("studio", "Studio", Decimal("2.400"), Decimal("2.600"), 25, 500_000),
]
PACKS = [
    ("starter", "Starter pack", 1_000, 1_000),
    ("creator", "Creator pack", 5_500, 5_000),
    ("studio", "Studio pack", 12_000, 10_000),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    CreditPack = apps.get_model("billing", "CreditPack")
    for slug, name, draft, final, concurrency, cap in PLANS:
        Plan.objects.update_or_create(slug=slug, defaults=dict(
            name=name, markup_draft=draft, markup_final=final, concurrency_limit=concurrency,
            daily_spend_cap_credits=cap))
    for slug, name, credits, cents in PACKS:
        CreditPack.objects.update_or_create(slug=slug, defaults=dict(name=name, credits=credits, price_cents=cents))


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_plans_refunds_purchases")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
