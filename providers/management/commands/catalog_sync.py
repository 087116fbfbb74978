from django.core.management.base import BaseCommand

from providers.catalog import catalog_sync


class Command(BaseCommand):
    help = "Add catalog models and price versions from providers/data/catalog.json (existing rows are kept)."

    def handle(self, *args, **options):
        created = catalog_sync()
        self.stdout.write(f"Catalog synced: {created} new provider model(s).")
