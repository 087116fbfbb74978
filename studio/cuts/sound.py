"""Where a cut's voice-over and music come from, and what generated audio costs.

Local sound (eSpeak NG and the local bed) is free and needs no network. ElevenLabs speech and
music are priced per second of audio from providers.audio.prices, marked up like a draft take
and charged through the ledger: held when the render is queued, captured when it is ready,
released when it fails.
"""

import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from billing.plans import plan_markup
from billing.pricing import take_price_credits
from providers.audio.elevenlabs import DEFAULT_VOICE_ID
from providers.audio.prices import ELEVENLABS_MUSIC, ELEVENLABS_SPEECH
from providers.base import ProviderError
from studio.cuts import audio
from studio.cuts.exceptions import CutError, CutNotReady

# A voice reads about 15 characters a second: how long an ElevenLabs line will be, before paying for it.
ESTIMATED_CHARACTERS_PER_SECOND = 15
AUDIO_TIER = "draft"
NOT_CONFIGURED = ("ElevenLabs is not configured (ELEVENLABS_API_KEY): choose the local voice and music bed, "
                  "or ask ops to add the key.")


@dataclass(frozen=True)
class SoundQuote:
    speech_seconds: int
    music_seconds: int
    usd_micros: int
    credits: int


def sound_inputs(cut) -> dict:
    """The sound settings that decide the mix's samples (part of the render's inputs hash)."""
    return {"voice": {"provider": cut.voice, "voice_id": DEFAULT_VOICE_ID if cut.voice == "elevenlabs" else "en",
                      "seed": cut.project_id},
            "music": {"kind": cut.music, "volume_db": cut.music_volume_db, "seed": cut.project_id,
                      "prompt": cut.music_prompt if cut.music == "elevenlabs" else ""}}


def sound_quote(inputs: dict, *, user_id: int) -> SoundQuote:
    """What the render's generated audio costs: 0 credits when all of it is local."""
    speech = 0
    if inputs["voice"]["provider"] == "elevenlabs":
        speech = sum(math.ceil(len(clip["line"]) / ESTIMATED_CHARACTERS_PER_SECOND) for clip in inputs["clips"] if clip["line"])
    music = 0
    if inputs["music"]["kind"] == "elevenlabs":
        music = math.ceil(sum(clip["out_ms"] - clip["in_ms"] for clip in inputs["clips"]) / 1000)
    usd_micros = speech * ELEVENLABS_SPEECH.usd_micros_per_second + music * ELEVENLABS_MUSIC.usd_micros_per_second
    if not usd_micros:
        return SoundQuote(speech, music, 0, 0)
    credits = take_price_credits(usd_micros_per_second=usd_micros, duration_seconds=1,
                                 markup=plan_markup(user_id=user_id, tier=AUDIO_TIER),
                                 credit_value_usd=settings.CREDIT_VALUE_USD_DECIMAL,
                                 minimum_credits=settings.MINIMUM_CHARGE_CREDITS)
    return SoundQuote(speech, music, usd_micros, credits)


def sound_providers_check(inputs: dict) -> None:
    """Refuse before queueing (and before holding credits) when generated audio has no provider."""
    from providers.audio.registry import elevenlabs_configured

    if "elevenlabs" in (inputs["voice"]["provider"], inputs["music"]["kind"]) and not elevenlabs_configured():
        raise CutNotReady(NOT_CONFIGURED)


def line_seconds_needed(line: str, *, provider: str) -> float:
    """How long the line will take to say (eSpeak measured; ElevenLabs estimated before paying)."""
    if provider == "elevenlabs":
        return len(line) / ESTIMATED_CHARACTERS_PER_SECOND
    return audio.speech_seconds(audio.local_voice(line))


def spoken_line(line: str, voice: dict) -> np.ndarray:
    if voice["provider"] != "elevenlabs":
        return audio.local_voice(line)
    clip = _call(lambda client: client.speech(line, voice_id=voice["voice_id"], seed=voice["seed"]))
    return _samples(clip)


def music_bed(music: dict, seconds: float) -> np.ndarray | None:
    if music["kind"] == "local":
        return audio.local_music_bed(seconds, seed=music["seed"])
    if music["kind"] == "elevenlabs":
        return _samples(_call(lambda client: client.music(music["prompt"], length_ms=math.ceil(seconds * 1000),
                                                          seed=music["seed"])))
    return None


def _call(request):
    from providers.audio.registry import elevenlabs_audio

    client = elevenlabs_audio()
    if client is None:
        raise CutNotReady(NOT_CONFIGURED)
    try:
        return request(client)
    except ProviderError as error:
        raise CutError(f"ElevenLabs could not make the audio: {error}") from error


def _samples(clip) -> np.ndarray:
    pcm = np.frombuffer(clip.pcm, dtype="<i2").astype(np.float32) / 32768.0
    return audio.resample(pcm, clip.sample_rate, audio.RATE)
