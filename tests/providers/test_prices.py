"""Which price version is in force, and pricing the whole catalog in a constant number of queries."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.pipeline.quote import take_quote
from providers.models import ProviderModel, ProviderPrice
from providers.selectors import provider_price_current
from studio.services.takes import shot_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def kling(catalog):
    model = ProviderModel.objects.get(slug="kling-2-6")
    model.prices.all().delete()
    return model


def price(model, micros, *, valid_from, resolution="", with_audio=False) -> ProviderPrice:
    return ProviderPrice.objects.create(provider_model=model, usd_micros_per_second=micros, resolution=resolution,
                                        with_audio=with_audio, valid_from=valid_from)


def test_the_newest_version_in_force_on_the_day_wins(kling):
    price(kling, 70_000, valid_from=date(2026, 1, 1))
    newer = price(kling, 60_000, valid_from=date(2026, 6, 1))
    price(kling, 50_000, valid_from=date(2027, 1, 1))  # announced, not yet in force
    assert provider_price_current(provider_model=kling, on=date(2026, 12, 2)) == newer
    assert provider_price_current(provider_model=kling, on=date(2025, 12, 31)) is None


def test_an_exact_resolution_beats_the_any_resolution_price_and_audio_is_priced_apart(kling):
    anywhere = price(kling, 70_000, valid_from=date(2026, 1, 1))
    at_1080 = price(kling, 90_000, valid_from=date(2026, 1, 1), resolution="1080p")
    with_audio = price(kling, 110_000, valid_from=date(2026, 1, 1), with_audio=True)
    on = date(2026, 12, 2)
    assert provider_price_current(provider_model=kling, on=on, resolution="1080p") == at_1080
    assert provider_price_current(provider_model=kling, on=on, resolution="720p") == anywhere
    assert provider_price_current(provider_model=kling, on=on, with_audio=True) == with_audio


def test_a_quote_prices_every_provider_without_a_query_each(catalog, shot):
    spec = shot_spec(shot=shot)
    with CaptureQueriesContext(connection) as queries:
        take_quote(spec=spec, tier="draft")
    price_queries = [query for query in queries.captured_queries if '"providers_providerprice"' in query["sql"]]
    assert ProviderModel.objects.count() > 10
    assert len(price_queries) == 1  # the prefetch
