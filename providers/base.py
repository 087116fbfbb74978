"""What every adapter speaks: plain dataclasses in, plain dataclasses out, no ORM.

Errors say what kind of failure happened so the pipeline knows whether to retry, move to
another provider, or stop and tell the creator.
"""

from abc import ABC, abstractmethod
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


class AuthenticationFailed(ProviderError):
    """Our key was refused: not retryable until ops fix the configuration."""


class WebhookRejected(Exception):
    """A callback that failed verification (bad signature, stale, malformed). Answer 4xx, change nothing."""


# ---------------------------------------------------------------------------------------------
# Remote providers: submit a job, then learn its fate by polling or by a verified callback.
# ---------------------------------------------------------------------------------------------


class JobState:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass(frozen=True)
class MultiShotSegment:
    prompt: str
    duration_seconds: int


@dataclass(frozen=True)
class GenerationRequest:
    """One job for one provider model, already compiled into that provider's terms."""

    model_id: str  # the vendor's model id or endpoint id, e.g. "gen4_turbo", "fal-ai/veo3/fast"
    prompt: str
    negative_prompt: str  # empty when the compiler folded it into the prompt
    duration_seconds: int
    aspect_ratio: str  # "16:9", "9:16", "1:1", "4:3"
    idempotency_key: str  # stable per take attempt; passed to vendors that accept one
    resolution: str = ""  # "720p", "1080p", … empty: the model's default
    seed: int | None = None
    with_audio: bool = False
    image_url: str | None = None  # start frame: an https URL or a data: URL
    end_image_url: str | None = None
    reference_image_urls: tuple[str, ...] = ()
    video_url: str | None = None  # for upscalers: the finished video to upscale (an https URL or a data: URL)
    multi_shot: tuple[MultiShotSegment, ...] = ()
    callback_url: str | None = None  # where the vendor should POST status changes, when it can
    # The shot's own words, for renderers that read them rather than a prompt (our animatic).
    camera: str = ""
    title: str = ""
    # Our own render service says a job ended by sending this Celery task ({name, args, kwargs,
    # queue}), the way a vendor calls callback_url: no web request between two of our workers.
    notify_task: dict | None = None


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: str  # a JobState value
    raw_status: str  # the vendor's own word, for logs and the admin
    progress: int | None = None  # 0–100 when the vendor reports progress
    output_url: str | None = None  # where the finished video can be fetched
    error: ProviderError | None = None  # classified, when state is FAILED
    poll_after_seconds: float | None = None  # the vendor's own hint, when it gives one


@dataclass(frozen=True)
class WebhookEvent:
    """A verified callback. `reply` set: answer with that JSON body and apply nothing (e.g. a challenge)."""

    event_id: str
    job_id: str = ""
    status: JobStatus | None = None
    reply: dict | None = None


class VideoAdapter(ABC):
    """The one small interface every remote API family implements (plain Python, no ORM).

    Every method raises a ProviderError subclass for vendor failures, so callers can tell
    transient trouble (retry) from policy rejections, bad requests and exhausted vendor credit.
    """

    family: str = ""
    supports_cancel: bool = False
    supports_callbacks: bool = False
    # The same request sent twice (the same idempotency key) gives back the first job, not a second.
    deduplicates_submissions: bool = False
    # Says a job ended by sending the request's notify_task (our own render service).
    notifies_by_task: bool = False

    @abstractmethod
    def submit(self, request: GenerationRequest) -> JobStatus:
        """Start the job; the answer carries the vendor's job id before anything waits."""

    @abstractmethod
    def status(self, job_id: str) -> JobStatus:
        """Where the job is now, with progress mapped to 0–100 where the vendor reports it."""

    def cancel(self, job_id: str) -> bool:
        """Ask the vendor to stop the job. False when the family has no cancel."""
        return False

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Verify and parse a callback; raise WebhookRejected when it cannot be trusted.

        Families whose vendor does not sign callbacks are verified by our own per-take token
        in the URL before this is called; they only parse here.
        """
        raise WebhookRejected(f"{self.family} does not send callbacks")

    @abstractmethod
    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        """Download the finished video to `destination` (size-capped)."""
