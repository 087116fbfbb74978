"""fal.ai queue API family: Kling, Veo, Wan, Hailuo, Seedance, LTX, Pika and PixVerse hosted on fal."""

from providers.adapters.fal.adapter import FalAdapter, request_id_of

__all__ = ["FalAdapter", "request_id_of"]
