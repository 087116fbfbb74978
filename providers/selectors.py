from datetime import date

from providers.models import ProviderModel, ProviderPrice


def provider_price_current(*, provider_model: ProviderModel, on: date, resolution: str = "", with_audio: bool = False) -> ProviderPrice | None:
    """The newest price version in force on a day, preferring an exact resolution match."""
    prices = provider_model.prices.filter(valid_from__lte=on, with_audio=with_audio, resolution__in=[resolution, ""])
    return prices.order_by("-valid_from", "-resolution").first()
