"""Sandbox mode: every remote API family answered by its local emulator, with no keys.

`python -m providers.emulators.sandbox --ports '{"runway": 18101, ...}'` serves them all from one
process (make run starts it); the app then reads PROVIDER_SANDBOX_URLS and builds each adapter
with `sandbox_adapter_options`, so the real adapter code runs against the emulator.
"""

import argparse
import base64
import json
import os
import signal
import threading
from importlib import import_module

SANDBOX_API_KEY = "key_" + "5a" * 64  # shaped like a real key: some emulators check the shape
SANDBOX_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"shotcraft-sandbox-webhook-secret").decode()
SANDBOX_VERTEX_TOKEN = "sandbox-vertex-token"
SANDBOX_LATENCY_SECONDS = 4.0

EMULATORS = {
    "runway": "providers.emulators.runway.RunwayEmulator",
    "fal": "providers.emulators.fal.FalEmulator",
    "openai_videos": "providers.emulators.openai_videos.OpenAIVideosEmulator",
    "google_veo": "providers.emulators.google_veo.GoogleVeoEmulator",
    "google_vertex": "providers.emulators.google_vertex.GoogleVertexEmulator",
    "luma": "providers.emulators.luma.LumaEmulator",
    "minimax": "providers.emulators.minimax.MiniMaxEmulator",
    "replicate": "providers.emulators.replicate.ReplicateEmulator",
    "kling": "providers.emulators.kling.KlingEmulator",
    "elevenlabs": "providers.emulators.elevenlabs.ElevenLabsEmulator",
}

# What the adapter needs to talk to the emulator at `url` (emulators serve the vendor's paths).
_OPTIONS = {
    "runway": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": url},
    "fal": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": url, "jwks_url": f"{url}/.well-known/jwks.json"},
    "openai_videos": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": f"{url}/v1", "webhook_secret": SANDBOX_WEBHOOK_SECRET},
    "google_veo": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": url},
    "google_vertex": lambda url: {"access_token": SANDBOX_VERTEX_TOKEN, "project": "shotcraft-sandbox",
                                  "location": "us-central1", "base_url": url},
    "luma": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": f"{url}/dream-machine/v1"},
    "minimax": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": url},
    "replicate": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": f"{url}/v1", "webhook_secret": SANDBOX_WEBHOOK_SECRET},
    "kling": lambda url: {"access_key": "sandbox-access-key", "secret_key": "sandbox-secret-key-for-local-kling-emulator-only", "base_url": url},
    "elevenlabs": lambda url: {"api_key": SANDBOX_API_KEY, "base_url": url},
}
# What each emulator needs to match those options.
_EMULATOR_OPTIONS = {
    "openai_videos": {"webhook_secret": SANDBOX_WEBHOOK_SECRET},
    "replicate": {"webhook_secret": SANDBOX_WEBHOOK_SECRET},
    "google_vertex": {"access_token": SANDBOX_VERTEX_TOKEN},
    "kling": {"access_key": "sandbox-access-key", "secret_key": "sandbox-secret-key-for-local-kling-emulator-only"},
}


def sandbox_adapter_options(family: str, url: str) -> dict:
    return _OPTIONS[family](url.rstrip("/"))


def _dashboard_webhook(family: str) -> dict:
    """OpenAI's webhook address is set in its dashboard: in sandbox, our family-level endpoint."""
    public = os.environ.get("PUBLIC_BASE_URL")
    return {"webhook_url": f"{public.rstrip('/')}/webhooks/{family}/"} if family == "openai_videos" and public else {}


def emulator_create(family: str, *, port: int = 0, latency_seconds: float = SANDBOX_LATENCY_SECONDS, **extra):
    module_path, class_name = EMULATORS[family].rsplit(".", 1)
    emulator_class = getattr(import_module(module_path), class_name)
    options = {**_EMULATOR_OPTIONS.get(family, {}), **_dashboard_webhook(family), **extra}
    return emulator_class(port=port, latency_seconds=latency_seconds, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every provider emulator for sandbox mode.")
    parser.add_argument("--ports", required=True, help='JSON object: family → port, e.g. {"runway": 18101}')
    parser.add_argument("--latency", type=float, default=SANDBOX_LATENCY_SECONDS)
    arguments = parser.parse_args()
    emulators = [emulator_create(family, port=port, latency_seconds=arguments.latency).start()
                 for family, port in json.loads(arguments.ports).items()]
    print(json.dumps({emulator.family: emulator.url for emulator in emulators}), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    for emulator in emulators:
        emulator.stop()


if __name__ == "__main__":
    main()
