"""ElevenLabs text-to-speech and music through the official `elevenlabs` SDK.

Plain Python behind a small interface: `speech` and `music` answer 16-bit mono PCM at 48 kHz
(`AudioClip`); vendor errors become the provider error hierarchy (providers.base), so callers
know what a retry can fix. Sandbox mode points `base_url` at providers.emulators.elevenlabs.
"""

from dataclasses import dataclass

import httpx

from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    InsufficientVendorCredit,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

OUTPUT_FORMAT = "pcm_48000"
SAMPLE_RATE = 48_000
DEFAULT_VOICE_ID = "JBFqnCBsd6RMkjVDRZzb"  # a premade voice ("George") every account has
DEFAULT_TTS_MODEL = "eleven_multilingual_v2"
MUSIC_MODEL = "music_v1"
MUSIC_MIN_MS = 3_000


@dataclass(frozen=True)
class AudioClip:
    pcm: bytes  # signed 16-bit little-endian mono
    sample_rate: int
    characters: int = 0

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class ElevenLabsAudio:
    def __init__(self, *, api_key: str, base_url: str | None = None, timeout_seconds: float = 60.0):
        from elevenlabs.client import ElevenLabs

        options = {"base_url": base_url} if base_url else {}
        self.client = ElevenLabs(api_key=api_key, timeout=timeout_seconds, **options)

    def speech(self, text: str, *, voice_id: str = DEFAULT_VOICE_ID, model_id: str = DEFAULT_TTS_MODEL,
               seed: int | None = None) -> AudioClip:
        chunks = self._call(lambda: self.client.text_to_speech.with_raw_response.convert(
            voice_id, text=text, model_id=model_id, output_format=OUTPUT_FORMAT, seed=seed))
        return AudioClip(pcm=chunks, sample_rate=SAMPLE_RATE, characters=len(text))

    def music(self, prompt: str, *, length_ms: int, seed: int | None = None) -> AudioClip:
        chunks = self._call(lambda: self.client.music.with_raw_response.compose(
            prompt=prompt, music_length_ms=max(MUSIC_MIN_MS, length_ms), model_id=MUSIC_MODEL,
            force_instrumental=True, output_format=OUTPUT_FORMAT, seed=seed))
        return AudioClip(pcm=chunks, sample_rate=SAMPLE_RATE)

    def _call(self, request) -> bytes:
        """The audio of a raw-response call: its content type is checked, since a 200 with a JSON
        or HTML body (a proxy's page, a truncated answer) is no audio whatever its length."""
        from elevenlabs.core.api_error import ApiError

        try:
            with request() as response:
                content_type = response.headers.get("content-type", "")
                audio = b"".join(response.data)
        except ApiError as error:
            raise _error_for(error.status_code, error.body, error.headers or {}) from error
        except httpx.TimeoutException as error:
            raise TransientProviderError(f"ElevenLabs timed out: {error}") from error
        except httpx.HTTPError as error:
            raise TransientProviderError(f"ElevenLabs could not be reached: {error}") from error
        if not content_type.startswith(("audio/", "application/octet-stream")) or len(audio) < 2 or len(audio) % 2:
            raise TransientProviderError(f"ElevenLabs answered no usable audio ({content_type or 'no type'}, "
                                         f"{len(audio)} bytes).")
        return audio


def _error_for(status: int | None, body, headers: dict) -> ProviderError:
    info = body.get("detail") if isinstance(body, dict) else None
    code = info.get("status", "") if isinstance(info, dict) else ""
    message = info.get("message", "") if isinstance(info, dict) else str(body)[:300]
    reason = f"ElevenLabs {status} {code}: {message}".strip()
    if status == 429:
        retry = headers.get("retry-after") or headers.get("Retry-After")
        return RateLimited(reason, retry_after_seconds=float(retry) if retry else None)
    if status == 401 and code == "quota_exceeded":
        return InsufficientVendorCredit(reason)
    if status in (401, 403):
        return AuthenticationFailed(reason)
    if status == 400 and "policy" in code:
        return ContentPolicyRejected(reason)
    if status in (400, 404, 422):
        return BadRequest(reason)
    return TransientProviderError(reason)
