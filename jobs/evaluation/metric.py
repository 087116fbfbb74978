"""The record every quality metric produces: raw value, what it means, and its 0–1 score."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Metric:
    value: object  # JSON-serialisable; None when unavailable
    unit: str
    explanation: str  # what the value measures and how it becomes the score
    score: float | None = None  # 0 (bad) to 1 (good); None for metrics that only inform or gate
    available: bool = True
    reason: str = ""  # why the metric is unavailable; never a storage path
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "available": self.available,
            "value": self.value,
            "unit": self.unit,
            "explanation": self.explanation,
            "score": None if self.score is None else round(float(self.score), 4),
            "reason": self.reason,
            "detail": self.detail,
        }


def metric_unavailable(*, unit: str, explanation: str, reason: str) -> Metric:
    return Metric(value=None, unit=unit, explanation=explanation, available=False, reason=reason)


def unit_clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
