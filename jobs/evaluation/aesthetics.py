"""Aesthetic proxies measured on the sampled stills: sharpness, exposure, contrast, colourfulness.

Each is a plain image statistic averaged over the stills, mapped to 0-1 by a fixed transform that
is spelled out in the metric's explanation. Proxies, not taste: they catch blur, a washed-out or
murky picture and a grey cast, not a bad composition.
"""

import cv2
import numpy as np

from jobs.evaluation.metric import Metric, unit_clip

SHARPNESS_HALF = 100.0  # Laplacian variance (at analysis size) that scores 0.5
CLIPPED_LOW, CLIPPED_HIGH = 5, 250  # luma levels counted as crushed blacks / blown highlights
CONTRAST_FULL = 64.0  # luma standard deviation that scores 1
COLOURFULNESS_FULL = 60.0  # Hasler–Süsstrunk M that scores 1 ("quite colourful")


def aesthetics_measure(stills: list[np.ndarray]) -> dict[str, Metric]:
    grays = [cv2.cvtColor(still, cv2.COLOR_RGB2GRAY) for still in stills]
    return {
        "sharpness": _sharpness(grays),
        "exposure": _exposure(grays),
        "contrast": _contrast(grays),
        "colourfulness": _colourfulness(stills),
    }


def _sharpness(grays: list[np.ndarray]) -> Metric:
    variance = float(np.mean([cv2.Laplacian(gray, cv2.CV_64F).var() for gray in grays]))
    return Metric(
        value=round(variance, 2),
        unit="Laplacian variance",
        explanation=f"Variance of the Laplacian at {grays[0].shape[1]} px wide. Score = v / (v + {SHARPNESS_HALF:g}).",
        score=variance / (variance + SHARPNESS_HALF),
    )


def _exposure(grays: list[np.ndarray]) -> Metric:
    mean = float(np.mean([gray.mean() for gray in grays])) / 255
    clipped = float(np.mean([((gray < CLIPPED_LOW) | (gray > CLIPPED_HIGH)).mean() for gray in grays]))
    return Metric(
        value=round(mean, 4),
        unit="mean luma (0-1)",
        explanation=(
            "Mean luma; mid-grey is ideal. Score = (1 - 2|mean - 0.5|) x (1 - share of pixels below "
            f"{CLIPPED_LOW} or above {CLIPPED_HIGH})."
        ),
        score=unit_clip((1 - 2 * abs(mean - 0.5)) * (1 - clipped)),
        detail={"clipped_share": round(clipped, 4)},
    )


def _contrast(grays: list[np.ndarray]) -> Metric:
    deviation = float(np.mean([gray.std() for gray in grays]))
    return Metric(
        value=round(deviation, 2),
        unit="luma standard deviation (0-255)",
        explanation=f"RMS contrast. Score = value / {CONTRAST_FULL:g}, capped at 1.",
        score=unit_clip(deviation / CONTRAST_FULL),
    )


def _colourfulness(stills: list[np.ndarray]) -> Metric:
    value = float(np.mean([_hasler_susstrunk(still) for still in stills]))
    return Metric(
        value=round(value, 2),
        unit="Hasler–Süsstrunk M",
        explanation=(
            "sqrt(sd_rg² + sd_yb²) + 0.3 sqrt(mean_rg² + mean_yb²) with rg = R - G, yb = (R + G)/2 - B. "
            f"Score = M / {COLOURFULNESS_FULL:g}, capped at 1."
        ),
        score=unit_clip(value / COLOURFULNESS_FULL),
    )


def _hasler_susstrunk(still: np.ndarray) -> float:
    red, green, blue = (still[:, :, channel].astype(np.float32) for channel in range(3))
    rg, yb = red - green, (red + green) / 2 - blue
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
