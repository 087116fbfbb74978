"""Compile a shot's structured fields into a provider prompt. Versioned: takes store the version."""

from dataclasses import dataclass, field

COMPILER_VERSION = "1"

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

    def as_request(self) -> dict:
        return {
            "title": self.title, "subject": self.subject, "scene": self.scene, "camera": self.camera,
            "motion": self.motion, "style": self.style, "negative": self.negative,
            "duration_seconds": self.duration_seconds, "aspect_ratio": self.aspect_ratio,
            "character_names": list(self.character_names), "reference_image_names": list(self.reference_image_names),
        }

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
