"""Load the versioned catalog file into the database; ops edit the rows in the admin."""

import json
from datetime import date
from pathlib import Path

from django.db import transaction

from providers.models import ProviderModel, ProviderPrice

CATALOG_FILE = Path(__file__).parent / "data" / "catalog.json"
PRICE_FIELDS = ("usd_micros_per_second", "resolution", "with_audio", "valid_from", "source")


def catalog_defaults_read(path: Path = CATALOG_FILE) -> list[dict]:
    return json.loads(path.read_text())["models"]


@transaction.atomic
def catalog_sync(*, path: Path = CATALOG_FILE, model_cls=ProviderModel, price_cls=ProviderPrice,
                 entry_adjust=lambda entry: entry) -> int:
    """Insert catalog rows that are missing and add new price versions; never overwrite ops' edits.

    `entry_adjust` lets an old migration fit today's file to the schema of its time.
    """
    created = 0
    known = {field.name for field in model_cls._meta.get_fields()}
    for entry in map(entry_adjust, catalog_defaults_read(path)):
        if any(value is True and key not in known for key, value in entry.items()):
            continue  # needs a capability this schema lacks (a historical model): its own migration loads it
        fields = {key: value for key, value in entry.items() if key in known and key not in ("slug", "prices")}
        provider_model, was_created = model_cls.objects.get_or_create(slug=entry["slug"], defaults=fields)
        created += int(was_created)
        for price in entry["prices"]:
            price_cls.objects.get_or_create(
                provider_model=provider_model,
                resolution=price["resolution"],
                with_audio=price["with_audio"],
                valid_from=date.fromisoformat(price["valid_from"]),
                defaults={"usd_micros_per_second": price["usd_micros_per_second"], "source": price["source"]},
            )
    return created
