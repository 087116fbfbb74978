from django.db import migrations


def load_catalog(apps, schema_editor):
    from providers.catalog import catalog_sync

    catalog_sync(model_cls=apps.get_model("providers", "ProviderModel"), price_cls=apps.get_model("providers", "ProviderPrice"),
                 entry_adjust=_tier_of_the_time)


def _tier_of_the_time(entry: dict) -> dict:
    """The animatic tier came with 0004_animatic_tier, which moves the animatic into it."""
    return {**entry, "tier": "draft"} if entry["tier"] == "animatic" else entry


class Migration(migrations.Migration):
    dependencies = [("providers", "0002_catalog_capabilities")]
    operations = [migrations.RunPython(load_catalog, migrations.RunPython.noop)]
