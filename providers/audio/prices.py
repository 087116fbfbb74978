"""What audio costs us, per second of output (USD micros), with where each figure comes from.

ElevenLabs bills speech by characters and music by length on subscription plans; the seeds give a
per-shot figure for a 5-second shot, which we spread per second. Ops can override each figure
with its environment variable; the citation stays with the default.
"""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class AudioPrice:
    usd_micros_per_second: int
    source: str


def _micros(variable: str, default: int) -> int:
    return int(os.environ.get(variable, default))


ELEVENLABS_SPEECH = AudioPrice(
    usd_micros_per_second=_micros("ELEVENLABS_SPEECH_USD_MICROS_PER_SECOND", 4_000),
    source="seeds/001 (The AI Video Generation Landscape in February 2026), cost table for a 5 s shot: "
           "'TTS dialogue | $0.02 | ElevenLabs or similar' → $0.004/s",
)
ELEVENLABS_MUSIC = AudioPrice(
    usd_micros_per_second=_micros("ELEVENLABS_MUSIC_USD_MICROS_PER_SECOND", 6_000),
    source="seeds/001 (The AI Video Generation Landscape in February 2026), cost table for a 5 s shot: "
           "'Music generation | $0.03 | Suno or similar' → $0.006/s (ElevenLabs music priced alike)",
)
