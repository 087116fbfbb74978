from django.db import migrations


def load_catalog(apps, schema_editor):
    from providers.catalog import catalog_sync

    catalog_sync(model_cls=apps.get_model("providers", "ProviderModel"), price_cls=apps.get_model("providers", "ProviderPrice"))


class Migration(migrations.Migration):
    dependencies = [("providers", "0002_catalog_capabilities")]
    operations = [migrations.RunPython(load_catalog, migrations.RunPython.noop)]
