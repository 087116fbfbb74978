"""The ElevenLabs adapter (official SDK) against the emulator of its documented API."""

import pytest

from providers.audio.elevenlabs import SAMPLE_RATE, ElevenLabsAudio
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    InsufficientVendorCredit,
    RateLimited,
    TransientProviderError,
)
from providers.emulators.elevenlabs import CHARACTERS_PER_SECOND, ElevenLabsEmulator

KEY = "sk_" + "3c" * 24


@pytest.fixture
def emulator():
    with ElevenLabsEmulator(api_key=KEY) as running:
        yield running


@pytest.fixture
def adapter(emulator):
    return ElevenLabsAudio(api_key=KEY, base_url=emulator.url, timeout_seconds=3)


def test_speech_comes_back_as_pcm_the_length_of_the_line(adapter, emulator):
    line = "The lanterns come on one by one."
    clip = adapter.speech(line, seed=7)
    assert clip.sample_rate == SAMPLE_RATE and clip.characters == len(line)
    assert clip.seconds == pytest.approx(len(line) / CHARACTERS_PER_SECOND, abs=0.01)
    request = emulator.requests_seen[-1]
    assert request.path.startswith("/v1/text-to-speech/") and request.query["output_format"] == "pcm_48000"
    assert request.headers["xi-api-key"] == KEY and request.json()["seed"] == 7
    assert adapter.speech(line, seed=7).pcm == clip.pcm  # a fixed seed, the same audio


def test_music_comes_back_at_the_asked_length(adapter, emulator):
    clip = adapter.music("warm night-market pad", length_ms=12_000, seed=3)
    assert clip.seconds == pytest.approx(12.0, abs=0.01)
    assert emulator.requests_seen[-1].json()["force_instrumental"] is True


def test_a_short_bed_is_asked_for_at_the_vendors_minimum(adapter):
    assert adapter.music("pad", length_ms=1000).seconds == pytest.approx(3.0, abs=0.01)


def test_a_wrong_key_is_an_authentication_failure(emulator):
    with pytest.raises(AuthenticationFailed, match="invalid_api_key"):
        ElevenLabsAudio(api_key="sk_wrong", base_url=emulator.url).speech("hello")


def test_an_exhausted_quota_is_out_of_vendor_credit():
    with ElevenLabsEmulator(character_quota=10) as emulator:
        adapter = ElevenLabsAudio(api_key=KEY, base_url=emulator.url)
        adapter.speech("short")
        with pytest.raises(InsufficientVendorCredit, match="quota_exceeded"):
            adapter.speech("a line longer than what is left")


def test_a_text_over_the_models_limit_is_a_bad_request(adapter):
    with pytest.raises(BadRequest, match="max_character_limit_exceeded"):
        adapter.speech("x" * 5001, model_id="eleven_v3")


@pytest.mark.parametrize("fault, error", [
    ("429", RateLimited), ("500", TransientProviderError), ("503", TransientProviderError),
    ("policy", ContentPolicyRejected), ("credit", InsufficientVendorCredit), ("bad_request", BadRequest),
    ("auth", AuthenticationFailed), ("malformed", TransientProviderError),
])
def test_vendor_faults_become_the_provider_errors(adapter, emulator, fault, error):
    emulator.inject("submit", fault)
    with pytest.raises(error):
        adapter.speech("hello there")


def test_a_rate_limit_says_when_to_come_back(adapter, emulator):
    emulator.inject("submit", "429")
    with pytest.raises(RateLimited) as caught:
        adapter.speech("hello")
    assert caught.value.retry_after_seconds == 1.0
