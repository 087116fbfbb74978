"""Google Veo on the Gemini Developer API (generativelanguage.googleapis.com, `x-goog-api-key`).

Submit POST /v1beta/models/{model}:predictLongRunning → {"name": "models/{model}/operations/{id}"};
the operation name is our job id. Poll GET /v1beta/{name} with the official google-genai SDK
(`client.operations.get`): `done` false → running (Veo reports no progress); done with
`generateVideoResponse.generatedSamples` → succeeded; done with `raiMediaFilteredCount` and no
samples → content-policy rejection; `error` (google.rpc.Status) → classified. No cancel, no
idempotency key. Callbacks: `webhookConfig.uris` per request (see `parse_webhook`).

Why submission is not the SDK: google-genai 3.x refuses `models.generate_videos` in Gemini API
mode ("only supported in Gemini Enterprise Agent Platform mode", models.py `_generate_videos`),
so we send the REST shape its Gemini converter used to send (provider_contracts.md §4 table:
`instances[0]`, `parameters`, top-level `webhookConfig`) with httpx. The SDK's retries are off.
Vertex AI (OAuth, `fetchPredictOperation`, GCS outputs) is not implemented here.
"""

from providers.adapters.google_veo.adapter import GoogleVeoAdapter

__all__ = ["GoogleVeoAdapter"]
