"""Speak one line with eSpeak NG (from the espeakng-loader wheel) and write the samples to stdout:
4 bytes of sample rate (little-endian), then 16-bit mono PCM. Run once per line by
`studio.cuts.audio.local_voice` (`python -m studio.cuts.espeak VOICE < text`)."""

import ctypes
import sys

SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: samples come back through the callback


def speak(text: str, voice: str) -> tuple[int, bytes]:
    import espeakng_loader

    library = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
    rate = library.espeak_Initialize(SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:
        raise SystemExit("eSpeak NG did not start")
    chunks: list[bytes] = []
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def collect(wav, count, events):
        if count > 0:
            chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    callback = callback_type(collect)
    library.espeak_SetSynthCallback(callback)
    if library.espeak_SetVoiceByName(voice.encode()) != 0:
        raise SystemExit(f"eSpeak NG has no voice {voice!r}")
    library.espeak_ng_SetRandSeed(ctypes.c_long(1))
    encoded = text.encode("utf-8")
    library.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, 0, None, None)
    library.espeak_Synchronize()
    return rate, b"".join(chunks)


if __name__ == "__main__":
    rate, pcm = speak(sys.stdin.read(), sys.argv[1] if len(sys.argv) > 1 else "en")
    sys.stdout.buffer.write(rate.to_bytes(4, "little") + pcm)
