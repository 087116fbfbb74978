"""What every adapter speaks: plain dataclasses in, plain dataclasses out, no ORM.

Errors say what kind of failure happened so the pipeline knows whether to retry, move to
another provider, or stop and tell the creator.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    negative_prompt: str
    duration_seconds: int
    aspect_ratio: str  # "16:9", "9:16", "1:1", "4:3"
    camera: str  # a studio.Shot.Camera value, e.g. "dolly_in"
    seed: int
    title: str = ""
    reference_images: tuple[Path, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RenderedVideo:
    video_path: Path
    poster_path: Path
    thumbnail_path: Path
    width: int
    height: int
    fps: int
    frame_count: int


ProgressCallback = Callable[[int], None]


class ProviderError(Exception):
    """A provider could not produce the take. `reason` is safe to show the creator."""

    retryable = False

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class TransientProviderError(ProviderError):
    retryable = True


class RateLimited(TransientProviderError):
    def __init__(self, reason: str, *, retry_after_seconds: float | None = None):
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


class ContentPolicyRejected(ProviderError):
    pass


class BadRequest(ProviderError):
    pass


class InsufficientVendorCredit(ProviderError):
    pass
