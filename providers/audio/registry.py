"""The configured ElevenLabs client: the real API with ELEVENLABS_API_KEY, the emulator in sandbox mode, else none."""

from django.conf import settings

from providers.audio.elevenlabs import ElevenLabsAudio

FAMILY = "elevenlabs"


def elevenlabs_sandbox() -> bool:
    return FAMILY in settings.PROVIDER_SANDBOX_URLS


def elevenlabs_configured() -> bool:
    return elevenlabs_sandbox() or bool(settings.PROVIDER_SETTINGS[FAMILY]["api_key"])


def elevenlabs_audio() -> ElevenLabsAudio | None:
    if elevenlabs_sandbox():
        from providers.emulators.sandbox import sandbox_adapter_options

        return ElevenLabsAudio(**sandbox_adapter_options(FAMILY, settings.PROVIDER_SANDBOX_URLS[FAMILY]))
    options = settings.PROVIDER_SETTINGS[FAMILY]
    return ElevenLabsAudio(**options) if options["api_key"] else None
