"""ElevenLabs audio API emulator: text-to-speech and music, answered as the vendor answers them.

POST /v1/text-to-speech/{voice_id}?output_format=pcm_48000  body {"text", "model_id", "seed", …}
POST /v1/music?output_format=pcm_48000                      body {"prompt", "music_length_ms", "model_id", …}

Both authenticate with the `xi-api-key` header and answer the audio itself (16-bit little-endian
mono PCM at the requested rate for `pcm_*`). Errors carry `{"detail": {"status", "message"}}`:
401 invalid_api_key; 401 quota_exceeded (out of characters or credits); 400 for a text over the
model's character limit; 422 for a malformed body; 429 too_many_concurrent_requests or
system_busy; 5xx from the gateway. The speech is a pitched buzz the length a voice would take to
read the text (about 15 characters a second), the music a chord; both are deterministic in their
inputs, as the vendor is for a fixed seed.
"""

import re

import numpy as np

from providers.emulators.server import Emulator, Request, Response, route

TTS_MODELS = {"eleven_multilingual_v2": 10_000, "eleven_flash_v2_5": 40_000, "eleven_turbo_v2_5": 40_000,
              "eleven_v3": 5_000}
MUSIC_MODELS = {"music_v1"}
PCM_FORMAT = re.compile(r"^pcm_(8000|16000|22050|24000|44100|48000)$")
CHARACTERS_PER_SECOND = 15
MUSIC_LENGTH_MS = (3_000, 300_000)


def detail(status: str, message: str) -> dict:
    return {"detail": {"status": status, "message": message}}


class ElevenLabsEmulator(Emulator):
    family = "elevenlabs"
    routes = (
        route("POST", r"/v1/text-to-speech/(?P<voice_id>[\w-]+)", "submit", "speech"),
        route("POST", r"/v1/music", "submit", "music"),
    )

    def __init__(self, *, api_key: str | None = None, character_quota: int | None = None, **kwargs):
        """`api_key` None accepts any key; `character_quota` makes speech fail once that many characters were read."""
        kwargs.pop("latency_seconds", None)  # speech and music answer at once: no job to wait for
        super().__init__(latency_seconds=0, **kwargs)
        self.api_key = api_key
        self.character_quota = character_quota
        self.characters_used = 0

    def error_response(self, fault: str) -> Response:
        answers = {
            "429": Response(429, detail("too_many_concurrent_requests", "Too many concurrent requests."), {"Retry-After": "1"}),
            "500": Response(500, detail("internal_error", "An internal error occurred.")),
            "503": Response(503, b"<html><body>503 Service Unavailable</body></html>", content_type="text/html"),
            "policy": Response(400, detail("content_policy_violation", "The text violates our terms of service.")),
            "credit": Response(401, detail("quota_exceeded", "This request exceeds your quota.")),
            "bad_request": Response(400, detail("invalid_request", "The request is invalid.")),
            "auth": Response(401, detail("invalid_api_key", "Invalid API key.")),
        }
        return answers[fault]

    def _refusal(self, request: Request) -> Response | None:
        key = request.headers.get("xi-api-key")
        if not key or (self.api_key is not None and key != self.api_key):
            return Response(401, detail("invalid_api_key", "Invalid API key."))
        output = request.query.get("output_format", "mp3_44100_128")
        if not PCM_FORMAT.match(output):
            return Response(400, detail("invalid_output_format", f"The emulator serves pcm_* only, not {output}."))
        return None

    def speech(self, request: Request, voice_id: str) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return Response(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON", "type": "json_invalid"}]})
        text, model = body.get("text"), body.get("model_id", "eleven_multilingual_v2")
        if not isinstance(text, str) or not text.strip():
            return Response(422, {"detail": [{"loc": ["body", "text"], "msg": "Field required", "type": "missing"}]})
        if model not in TTS_MODELS:
            return Response(400, detail("model_not_found", f"A model with model ID {model} does not exist."))
        if len(text) > TTS_MODELS[model]:
            return Response(400, detail("max_character_limit_exceeded",
                                        f"Text is {len(text)} characters; {model} takes at most {TTS_MODELS[model]}."))
        if self.character_quota is not None and self.characters_used + len(text) > self.character_quota:
            return Response(401, detail("quota_exceeded", "This request exceeds your quota."))
        self.characters_used += len(text)
        rate = int(request.query.get("output_format", "pcm_48000").split("_")[1])
        seconds = max(0.5, len(text) / CHARACTERS_PER_SECOND)
        seed = int(body.get("seed") or 0) + sum(map(ord, voice_id))
        return Response(200, _buzz(seconds, rate, seed), {"request-id": f"req-{len(self.requests_seen)}",
                                                          "character-cost": str(len(text))}, content_type="audio/pcm")

    def music(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return Response(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON", "type": "json_invalid"}]})
        length = body.get("music_length_ms")
        if not body.get("prompt") and not body.get("composition_plan"):
            return Response(422, {"detail": [{"loc": ["body", "prompt"], "msg": "A prompt or a composition plan is required",
                                              "type": "missing"}]})
        if body.get("model_id", "music_v1") not in MUSIC_MODELS:
            return Response(400, detail("model_not_found", "No such music model."))
        if not isinstance(length, int) or not MUSIC_LENGTH_MS[0] <= length <= MUSIC_LENGTH_MS[1]:
            return Response(422, {"detail": [{"loc": ["body", "music_length_ms"], "type": "value_error",
                                              "msg": f"music_length_ms must be {MUSIC_LENGTH_MS[0]} to {MUSIC_LENGTH_MS[1]}"}]})
        rate = int(request.query.get("output_format", "pcm_48000").split("_")[1])
        return Response(200, _chord(length / 1000, rate, int(body.get("seed") or 0)), {"song-id": f"song-{len(self.requests_seen)}"},
                        content_type="audio/pcm")


def _buzz(seconds: float, rate: int, seed: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pitch = 110 + seed % 60
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t) ** 2  # a voice's syllable rhythm
    wave = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6)) * syllables
    return (0.4 * wave / np.abs(wave).max() * 32767).astype("<i2").tobytes()


def _chord(seconds: float, rate: int, seed: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    root = 196.0 * 2 ** ((seed % 5) / 12)
    wave = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1, 1.25, 1.5))
    return (0.3 * wave / np.abs(wave).max() * 32767).astype("<i2").tobytes()
