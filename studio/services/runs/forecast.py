"""What a production run should cost before anything is spent, and what all-premium would cost.

Per shot: Σ over its steps of price × expected takes to pass. A draft round of N drafts succeeds
when at least one passes (1 − (1 − p)^N); rounds repeat up to the retry budget. The final is
expected to take 1/p tries (the pipeline regenerates a final that fails a check). p comes from our
own pass rates per model and shot features (jobs.outcomes), the catalog's quality until there is
history. The range runs from "everything passes first time" to "every retry is used".
"""

from dataclasses import asdict, dataclass

from django.conf import settings

from jobs.exceptions import TakeError
from jobs.models import Take
from jobs.outcomes import ModelOutcome, model_outcomes, shot_features_of
from studio.models import Shot
from studio.services.takes import shot_spec, shot_take_quote


@dataclass(frozen=True)
class ShotForecast:
    shot_id: int
    title: str
    draft_model: str = ""
    final_model: str = ""
    draft_credits: int = 0  # one draft
    final_credits: int = 0  # one final
    draft_pass: float = 0.0
    final_pass: float = 0.0
    expected: float = 0.0
    low: int = 0
    high: int = 0
    all_premium: float = 0.0
    refusal: str = ""  # why the shot cannot be run


@dataclass(frozen=True)
class RunForecast:
    shots: tuple[ShotForecast, ...]

    @property
    def expected(self) -> int:
        return round(sum(shot.expected for shot in self.shots))

    @property
    def low(self) -> int:
        return sum(shot.low for shot in self.shots)

    @property
    def high(self) -> int:
        return sum(shot.high for shot in self.shots)

    @property
    def all_premium(self) -> int:
        return round(sum(shot.all_premium for shot in self.shots))

    @property
    def saving_percent(self) -> int:
        return round(100 * (1 - self.expected / self.all_premium)) if self.all_premium else 0

    def as_dict(self) -> dict:
        return {"expected": self.expected, "low": self.low, "high": self.high, "all_premium": self.all_premium,
                "saving_percent": self.saving_percent, "shots": [asdict(shot) for shot in self.shots]}


def expected_rounds(*, pass_probability: float, drafts: int, rounds_max: int) -> float:
    """Expected draft rounds when each round succeeds with 1 − (1 − p)^drafts, at most rounds_max."""
    success = 1 - (1 - pass_probability) ** drafts
    return sum((1 - success) ** k for k in range(rounds_max))


def shot_forecast(*, shot: Shot, drafts: int, retry_rounds: int, threshold: int) -> ShotForecast:
    try:
        # The models a run would most likely use: ranked by our figures without exploring.
        draft, final = (shot_take_quote(shot=shot, tier=tier, fresh=True, pass_threshold=threshold, explore=False)
                        for tier in (Take.Tier.DRAFT, Take.Tier.FINAL))
    except TakeError as error:
        return ShotForecast(shot_id=shot.pk, title=shot.title, refusal=str(error))
    features = shot_features_of(shot_spec(shot=shot).as_request())
    outcomes = model_outcomes(features=features, threshold=threshold)
    draft_pass = _pass(outcomes, draft.provider_model, threshold)
    final_pass = _pass(outcomes, final.provider_model, threshold)
    rounds = expected_rounds(pass_probability=draft_pass, drafts=drafts, rounds_max=1 + retry_rounds)
    finals = 1 / final_pass
    tries_max = 1 + settings.TAKE_REGENERATIONS
    premium_rounds = expected_rounds(pass_probability=final_pass, drafts=drafts, rounds_max=1 + retry_rounds)
    return ShotForecast(
        shot_id=shot.pk, title=shot.title, draft_model=draft.provider_model.name, final_model=final.provider_model.name,
        draft_credits=draft.credits, final_credits=final.credits, draft_pass=round(draft_pass, 3),
        final_pass=round(final_pass, 3),
        expected=round(drafts * draft.credits * rounds + final.credits * min(finals, tries_max), 1),
        low=drafts * draft.credits + final.credits,
        high=drafts * draft.credits * (1 + retry_rounds) + final.credits * tries_max,
        all_premium=round(drafts * final.credits * premium_rounds, 1),
    )


def _pass(outcomes, provider_model, threshold: int) -> float:
    outcome = outcomes.get(provider_model.slug, ModelOutcome())
    return outcome.pass_probability(quality_score=provider_model.quality_score, threshold=threshold)


def run_forecast(*, shots: list[Shot], drafts: int, retry_rounds: int, threshold: int) -> RunForecast:
    return RunForecast(shots=tuple(shot_forecast(shot=shot, drafts=drafts, retry_rounds=retry_rounds, threshold=threshold)
                                   for shot in shots))
