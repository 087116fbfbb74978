"""Compile a shot's structured fields into a provider prompt. Versioned: takes store the version."""

from dataclasses import dataclass, field

from jobs.exceptions import TakeError
from providers.base import MultiShotSegment

MULTI_SHOT_MIN_SEGMENT_SECONDS = 3
MULTI_SHOT_MAX_TOTAL_SECONDS = 15

COMPILER_VERSION = "2"  # 2: per-provider dialects (durations, negatives, references, multi-shot)

CAMERA_PHRASES = {
    "static": "locked-off static camera",
    "dolly_in": "slow dolly in towards the subject",
    "dolly_out": "slow dolly out, revealing the surroundings",
    "pan_left": "smooth pan from right to left",
    "pan_right": "smooth pan from left to right",
    "tilt_up": "smooth tilt up",
    "tilt_down": "smooth tilt down",
    "orbit": "gentle orbit around the subject with parallax",
}


@dataclass(frozen=True)
class ShotSpec:
    """Everything about a shot that affects its video; jobs never reads studio models."""

    title: str
    subject: str
    scene: str
    camera: str
    motion: str
    style: str
    negative: str
    duration_seconds: int
    aspect_ratio: str
    character_names: tuple[str, ...] = field(default_factory=tuple)
    reference_image_names: tuple[str, ...] = field(default_factory=tuple)
    start_frame_name: str = ""  # a still the video should start from (a final starts from its draft's frame)
    dialogue: str = ""  # the shot's spoken line: in the prompt of models that make sound, a voice-over otherwise

    def as_request(self) -> dict:
        request = {
            "title": self.title, "subject": self.subject, "scene": self.scene, "camera": self.camera,
            "motion": self.motion, "style": self.style, "negative": self.negative,
            "duration_seconds": self.duration_seconds, "aspect_ratio": self.aspect_ratio,
            "character_names": list(self.character_names), "reference_image_names": list(self.reference_image_names),
        }
        if self.start_frame_name:
            request["start_frame_name"] = self.start_frame_name
        if self.dialogue:  # only when there is one: the requests (and cache keys) of silent shots stay as they were
            request["dialogue"] = self.dialogue
        return request

    @property
    def input_image_names(self) -> tuple[str, ...]:
        """Every image the provider may be sent, the start frame first."""
        return ((self.start_frame_name,) if self.start_frame_name else ()) + self.reference_image_names

    @classmethod
    def from_request(cls, data: dict) -> "ShotSpec":
        return cls(**{**data, "character_names": tuple(data["character_names"]),
                      "reference_image_names": tuple(data["reference_image_names"])})


@dataclass(frozen=True)
class CompiledPrompt:
    text: str
    negative: str
    version: str = COMPILER_VERSION


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?" else text + "."


def prompt_compile(spec: ShotSpec) -> CompiledPrompt:
    parts = [_sentence(spec.subject), _sentence(spec.scene)]
    if spec.character_names:
        parts.append(_sentence("Featuring " + ", ".join(spec.character_names)))
    if spec.motion:
        parts.append(_sentence(spec.motion))
    parts.append(_sentence(f"Camera: {CAMERA_PHRASES[spec.camera]}"))
    if spec.style:
        parts.append(_sentence(f"Style: {spec.style}"))
    return CompiledPrompt(text=" ".join(part for part in parts if part), negative=" ".join(spec.negative.split()))


class PromptCompileError(TakeError):
    """The shot cannot be expressed for this provider; the message says what to change."""


@dataclass(frozen=True)
class ProviderDialect:
    """What the compiler needs to know about one provider model (read from its catalog row)."""

    name: str
    max_duration_seconds: int
    allowed_durations: tuple[int, ...]
    negative_prompt: bool
    reference_images: bool
    image_to_video: bool
    multi_shot: bool = False
    native_audio: bool = False  # the model makes its own sound track: dialogue goes into its prompt


@dataclass(frozen=True)
class CompiledForProvider:
    prompt: str
    negative_prompt: str  # empty when folded into the prompt or unsupported
    duration_seconds: int
    use_reference_images: bool
    multi_shot: tuple[MultiShotSegment, ...] = ()
    version: str = COMPILER_VERSION


def _duration_for(spec: ShotSpec, dialect: ProviderDialect) -> int:
    if spec.duration_seconds > dialect.max_duration_seconds:
        raise PromptCompileError(
            f"{dialect.name} renders at most {dialect.max_duration_seconds} s; this shot is {spec.duration_seconds} s."
        )
    if dialect.allowed_durations and spec.duration_seconds not in dialect.allowed_durations:
        allowed = ", ".join(str(d) for d in dialect.allowed_durations)
        raise PromptCompileError(f"{dialect.name} renders {allowed} s clips; this shot is {spec.duration_seconds} s.")
    return spec.duration_seconds


def prompt_compile_for(spec: ShotSpec, dialect: ProviderDialect) -> CompiledForProvider:
    """The shot in one provider's terms: its durations, and negatives folded in where it has none."""
    base = prompt_compile(spec)
    prompt, negative = base.text, base.negative
    if negative and not dialect.negative_prompt:
        prompt, negative = f"{prompt} {_sentence('Avoid: ' + negative)}", ""
    if spec.dialogue and dialect.native_audio:
        prompt = f"{prompt} {dialogue_phrase(spec.dialogue)}"
    use_references = bool(spec.input_image_names) and (dialect.reference_images or dialect.image_to_video)
    return CompiledForProvider(prompt=prompt, negative_prompt=negative, duration_seconds=_duration_for(spec, dialect),
                               use_reference_images=use_references)


def dialogue_phrase(line: str) -> str:
    """The spoken line as native-audio models (Veo, Sora, Kling) read it: quoted after "says", so the
    words are spoken rather than drawn on screen; quotes inside the line become single ones."""
    words = " ".join(line.split()).replace('"', "'")
    return f'A voice says: "{words}" (no subtitles).'


def multi_shot_compile(specs: list[ShotSpec], dialect: ProviderDialect) -> tuple[MultiShotSegment, ...]:
    """Several storyboard shots as one multi-shot generation (Kling 3.0): each ≥3 s, ≤15 s in all."""
    if not dialect.multi_shot:
        raise PromptCompileError(f"{dialect.name} cannot render several shots in one generation.")
    if len(specs) < 2:
        raise PromptCompileError("A multi-shot generation needs at least two shots.")
    short = [spec.title for spec in specs if spec.duration_seconds < MULTI_SHOT_MIN_SEGMENT_SECONDS]
    if short:
        raise PromptCompileError(f"Each shot needs at least {MULTI_SHOT_MIN_SEGMENT_SECONDS} s; too short: {', '.join(short)}.")
    total = sum(spec.duration_seconds for spec in specs)
    if total > MULTI_SHOT_MAX_TOTAL_SECONDS:
        raise PromptCompileError(f"The shots add up to {total} s; {dialect.name} takes at most {MULTI_SHOT_MAX_TOTAL_SECONDS} s in one generation.")
    return tuple(MultiShotSegment(prompt=prompt_compile(spec).text, duration_seconds=spec.duration_seconds) for spec in specs)
