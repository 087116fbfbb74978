"""The 0–100 aggregate: a weighted mean of the available metric scores.

Weights are relative; metrics that are unavailable (no CLIP model, no references, clip too
short) drop out and the rest are re-weighted so they still sum to one. Callers pass weights from
settings; these defaults apply otherwise. A take that fails a hard gate has its aggregate scaled
into 0-FAILED_GATE_CEILING: it keeps its order among failed takes but never meets a passing one.

The scale: 80 and above is a clean clip with steady, real motion, good exposure and (with CLIP)
close to its prompt; around 50 is usable but weak on some dimension (little motion, soft, dull or
loosely matching); 20 and below is a clip that failed a hard gate (black, frozen, flicker, cut,
missing time, noise, wrong length or shape, unsafe).
"""

from dataclasses import dataclass

DEFAULT_WEIGHTS: dict[str, float] = {
    "prompt_alignment": 0.30,
    "character_consistency": 0.15,
    "motion_smoothness": 0.20,
    "dynamic_degree": 0.10,
    "flicker": 0.05,
    "sharpness": 0.10,
    "exposure": 0.08,
    "contrast": 0.07,
    "colourfulness": 0.05,
}


@dataclass(frozen=True)
class Aggregate:
    value: float | None  # 0-100, None when no weighted metric is available
    weights: dict[str, float]  # the weights actually applied, re-normalised to sum to 1


FAILED_GATE_CEILING = 20.0


def aggregate_compute(scores: dict[str, float | None], weights: dict[str, float] | None = None, *,
                      failed_gate: bool = False) -> Aggregate:  # fmt: skip
    weights = DEFAULT_WEIGHTS if weights is None else weights
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("metric weights must not be negative")
    applied = {name: weight for name, weight in weights.items() if weight > 0 and scores.get(name) is not None}
    total = sum(applied.values())
    if not total:
        return Aggregate(None, {})
    normalised = {name: weight / total for name, weight in applied.items()}
    value = 100 * sum(normalised[name] * scores[name] for name in normalised)
    if failed_gate:
        value *= FAILED_GATE_CEILING / 100
    return Aggregate(round(value, 2), {name: round(weight, 4) for name, weight in normalised.items()})
