"""Which API families this installation can call, and their adapters, built from settings."""

from functools import lru_cache
from importlib import import_module

from django.conf import settings

from providers.base import VideoAdapter

# family → (adapter class path, the settings it cannot work without)
ADAPTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "runway": ("providers.adapters.runway.RunwayAdapter", ("api_key",)),
    "fal": ("providers.adapters.fal.FalAdapter", ("api_key",)),
    "openai_videos": ("providers.adapters.openai_videos.OpenAIVideosAdapter", ("api_key",)),
    "google_veo": ("providers.adapters.google_veo.GoogleVeoAdapter", ("api_key",)),
    "google_vertex": ("providers.adapters.google_vertex.GoogleVertexAdapter", ("access_token", "project", "location")),
    "luma": ("providers.adapters.luma.LumaAdapter", ("api_key",)),
    "minimax": ("providers.adapters.minimax.MiniMaxAdapter", ("api_key",)),
    "replicate": ("providers.adapters.replicate.ReplicateAdapter", ("api_key",)),
    "kling": ("providers.adapters.kling.KlingAdapter", ("access_key", "secret_key")),
    # Our own renderers, run as a service with its own queue and workers (providers/local/renders.py).
    "local_animatic": ("providers.local.adapter.LocalRenderAdapter", ()),
    "self_hosted": ("providers.local.adapter.LocalRenderAdapter", ()),
}
LOCAL_FAMILIES = ("local_animatic", "self_hosted")


def is_sandbox(api_family: str) -> bool:
    return api_family in settings.PROVIDER_SANDBOX_URLS


def api_family_configured(api_family: str) -> bool:
    if api_family == "local_animatic":
        return True
    if api_family == "self_hosted":
        return bool(settings.SELF_HOSTED_MODEL_DIR) and _self_hosted_installed()
    if api_family not in ADAPTERS:
        return False
    if is_sandbox(api_family):
        return True
    options = settings.PROVIDER_SETTINGS.get(api_family, {})
    return all(options.get(name) for name in ADAPTERS[api_family][1])


def api_family_status(api_family: str) -> str:
    """A word for ops and creators: sandbox, configured, not configured, not installed."""
    if api_family == "self_hosted" and settings.SELF_HOSTED_MODEL_DIR and not _self_hosted_installed():
        return "not installed"
    if not api_family_configured(api_family):
        return "not configured"
    return "sandbox" if is_sandbox(api_family) else "configured"


def _self_hosted_installed() -> bool:
    try:
        from providers.local.diffusers_runner import self_hosted_available
    except ImportError:
        return False
    return self_hosted_available()


def adapter_for(api_family: str) -> VideoAdapter:
    if api_family not in ADAPTERS or not api_family_configured(api_family):
        raise LookupError(f"{api_family} is not configured")
    return _adapter(api_family, _options_key(api_family))


def local_render_queue(api_family: str) -> str:
    """Open models hold a GPU and render one at a time on their own workers; the animatic is light."""
    return settings.SELF_HOSTED_QUEUE if api_family == "self_hosted" else settings.LOCAL_RENDER_QUEUE


def _options_key(api_family: str) -> tuple:
    if api_family in LOCAL_FAMILIES:
        options = {"family": api_family, "queue": local_render_queue(api_family)}
    elif is_sandbox(api_family):
        from providers.emulators.sandbox import sandbox_adapter_options

        options = sandbox_adapter_options(api_family, settings.PROVIDER_SANDBOX_URLS[api_family])
    else:
        options = {key: value for key, value in settings.PROVIDER_SETTINGS[api_family].items() if value is not None}
    return tuple(sorted(options.items()))


@lru_cache(maxsize=32)
def _adapter(api_family: str, options: tuple) -> VideoAdapter:
    module_path, class_name = ADAPTERS[api_family][0].rsplit(".", 1)
    return getattr(import_module(module_path), class_name)(**dict(options))
