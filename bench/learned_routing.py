"""Issue #14's benchmark: the draft-first loop with learned routing against all-premium and against
draft-first with the catalog's routing, on one seeded 20-shot storyboard (`make bench`, section
`learned`).

Routing, prices and the aggregation of our own results are the real code over the bench database:
every take is quoted by `take_quote` and recorded as a finished Take row, so the learned policy's
later shots are routed by what its earlier takes did. The renders themselves are SIMULATED (60+
vendor renders would take far longer than a benchmark may): a seeded quality model in which a
model's true quality is its catalog quality plus a hidden offset per camera move, a clean take
scores around its true quality, and the share of broken takes (frozen, black, noise) falls as true
quality rises. The section says so when it prints.

Each shot follows the production run's steps (studio/services/runs/advance.py): rounds of three
takes, the best one at or above the threshold picked, one retry round; draft-first escalates the
pick to one final, which is regenerated when it comes out broken. A broken take is refunded
(BILLING_REFUND_BROKEN_OUTPUTS), so only clean takes cost credits.
"""

import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.test.utils import override_settings
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.quote import SEED_RANGE, TakeQuote, take_quote
from jobs.states import TakeState
from studio.models import Shot
from studio.services.takes import shot_spec
from tests.factories import creator_create, project_for, shot_for

SHOTS = 20
TAKES_PER_ROUND = 3
RETRY_ROUNDS = 1
THRESHOLD = 60  # the project's default score threshold
COST_GOAL, SCORE_GOAL = 0.35, 0.90  # learned draft-first ÷ all-premium: at most this cost, at least this score
CAMERAS = ("static", "dolly_in", "pan_left", "orbit", "tilt_up")
DURATIONS = (5, 8)
# Every vendor family counts as configured, so routing sees the whole sandbox catalog; nothing is sent.
SANDBOX = {family: "http://127.0.0.1:9" for family in
           ("runway", "fal", "google_veo", "google_vertex", "luma", "minimax", "replicate", "kling", "openai_videos")}


@dataclass
class QualityWorld:
    """The stand-in for rendering: what a take on a model comes out as, seeded."""

    seed: int
    offset_spread: float = 8.0  # how far a model's true quality on a camera move strays from the catalog's word
    score_noise: float = 5.0
    _offsets: dict = field(default_factory=dict)

    def true_quality(self, slug: str, quality: int, camera: str) -> float:
        if (slug, camera) not in self._offsets:
            self._offsets[slug, camera] = random.Random(f"{self.seed}:{slug}:{camera}").gauss(0, self.offset_spread)
        return min(max(quality + self._offsets[slug, camera], 1.0), 99.0)

    def render(self, slug: str, quality: int, camera: str, rng: random.Random) -> float | None:
        """The take's score, or None when it came out broken."""
        true = self.true_quality(slug, quality, camera)
        if rng.random() < (100 - true) / 200:
            return None
        return min(max(rng.gauss(true, self.score_noise), 0.0), 100.0)


@dataclass
class PolicyResult:
    name: str
    credits: int = 0
    takes: int = 0
    finals: list[float] = field(default_factory=list)  # accepted finals' scores
    last_reasons: dict[str, str] = field(default_factory=dict)  # tier → the last "why this provider"

    @property
    def credits_per_final(self) -> float:
        return self.credits / len(self.finals) if self.finals else float("inf")

    @property
    def mean_score(self) -> float:
        return sum(self.finals) / len(self.finals) if self.finals else 0.0


@dataclass(frozen=True)
class Rendered:
    quote: TakeQuote
    score: float | None

    @property
    def passed(self) -> bool:
        return self.score is not None and self.score >= THRESHOLD


def storyboard(prefix: str) -> list[Shot]:
    """20 shots of mixed camera moves and lengths: features the learned routing keeps apart."""
    project = project_for(creator_create(username=f"{prefix}-creator", credits=0))
    return [shot_for(project, title=f"Shot {n + 1}", camera=CAMERAS[n % len(CAMERAS)],
                     duration_seconds=DURATIONS[(n // len(CAMERAS)) % len(DURATIONS)]) for n in range(SHOTS)]


class PolicyRun:
    def __init__(self, name: str, *, world: QualityWorld, seed: int):
        self.result, self.world, self.rng = PolicyResult(name), world, random.Random(seed)

    def render(self, shot: Shot, tier: str, seed: int | None = None) -> Rendered:
        spec = shot_spec(shot=shot)
        quote = take_quote(spec=spec, tier=tier, owner_id=shot.project.owner_id, fresh=True, pass_threshold=THRESHOLD,
                           seed=self.rng.randrange(SEED_RANGE) if seed is None else seed)
        model = quote.provider_model
        score = self.world.render(model.slug, model.quality_score, spec.camera, self.rng)
        self._record(shot, spec, tier, quote, score)
        charged = 0 if score is None and settings.BILLING_REFUND_BROKEN_OUTPUTS else quote.credits
        self.result.credits += charged
        self.result.takes += 1
        self.result.last_reasons[tier] = f"{model.name}: {quote.plan.first.reason}"
        return Rendered(quote=quote, score=score)

    def _record(self, shot: Shot, spec, tier: str, quote: TakeQuote, score: float | None) -> None:
        """What the pipeline would leave behind, so the learned router reads it on the next quote."""
        Take.objects.create(
            owner_id=shot.project.owner_id, shot=shot, notify_group="bench", tier=tier, provider_model=quote.provider_model,
            state=TakeState.FAILED if score is None else TakeState.READY, route_plan=quote.plan.as_dict(),
            request=spec.as_request(), compiled_prompt=quote.compiled.text, compiler_version=quote.compiled.version,
            seed=quote.seed, duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
            price_credits=quote.credits, finished_at=timezone.now() + self._latency(quote),
            evaluation={"passed": score is not None, "aggregate": score if score is not None else 10.0},
        )

    def _latency(self, quote: TakeQuote) -> timedelta:
        """Request → ready as the catalog says it typically takes, give or take a quarter."""
        return timedelta(seconds=quote.provider_model.p50_latency_seconds * self.rng.uniform(0.75, 1.25))

    def best_of_rounds(self, shot: Shot, tier: str) -> Rendered | None:
        for _ in range(1 + RETRY_ROUNDS):
            passing = [take for take in (self.render(shot, tier) for _ in range(TAKES_PER_ROUND)) if take.passed]
            if passing:
                return max(passing, key=lambda take: take.score)
        return None  # handed to the creator

    def all_premium(self, shot: Shot) -> None:
        if best := self.best_of_rounds(shot, Take.Tier.FINAL):
            self.result.finals.append(best.score)

    def draft_first(self, shot: Shot) -> None:
        draft = self.best_of_rounds(shot, Take.Tier.DRAFT)
        if draft is None:
            return
        for _ in range(1 + settings.TAKE_REGENERATIONS):  # a broken final is regenerated
            final = self.render(shot, Take.Tier.FINAL, seed=draft.quote.seed)
            if final.score is not None:
                break
        if final.passed:
            self.result.finals.append(final.score)


def learned_routing_benchmark(*, seed: int = 14) -> list[PolicyResult]:
    """The three policies on one storyboard each (same shots, same world). The learned policy runs
    first, on an empty history, so it learns only from its own takes."""
    world = QualityWorld(seed=seed)
    policies = (("draft-first, learned routing", True, "draft_first"), ("draft-first, catalog routing", False, "draft_first"),
                ("all-premium", False, "all_premium"))
    results = []
    for name, learned, steps in policies:
        run = PolicyRun(name, world=world, seed=seed)
        with override_settings(LEARNED_ROUTING=learned, PROVIDER_SANDBOX_URLS=SANDBOX):
            for shot in storyboard(prefix=f"bench-loop-{steps}-{int(learned)}"):
                getattr(run, steps)(shot)
        results.append(run.result)
    return results[::-1]


def learned_routing_print(results: list[PolicyResult]) -> None:
    premium, catalog, learned = results
    print(f"Draft-first loop (issue #14): {SHOTS} seeded shots, {TAKES_PER_ROUND} takes a round, {RETRY_ROUNDS} retry round,"
          f" threshold {THRESHOLD}")
    print("  renders SIMULATED by a seeded quality model (catalog quality + a hidden offset per model and camera move;"
          " broken takes refunded);\n  routing, prices and our-results aggregation are the real code over this database")
    print(f"  {'policy':30s} {'credits/accepted final':>22s} {'mean final score':>17s} {'accepted':>9s} {'takes':>6s}")
    for result in results:
        print(f"  {result.name:30s} {result.credits_per_final:22.1f} {result.mean_score:17.1f}"
              f" {len(result.finals):>6d}/{SHOTS} {result.takes:6d}")
    cost = learned.credits_per_final / premium.credits_per_final
    score = learned.mean_score / premium.mean_score if premium.mean_score else 0.0
    met = cost <= COST_GOAL and score >= SCORE_GOAL
    print(f"  learned ÷ all-premium: cost {cost:.0%} (goal ≤ {COST_GOAL:.0%}), mean final score {score:.0%}"
          f" (goal ≥ {SCORE_GOAL:.0%})   {'ok' if met else 'MISSED'}")
    print(f"  catalog ÷ all-premium: cost {catalog.credits_per_final / premium.credits_per_final:.0%},"
          f" mean final score {catalog.mean_score / premium.mean_score if premium.mean_score else 0.0:.0%}")
    for tier, reason in learned.last_reasons.items():
        print(f"  why, last learned {tier}: {reason}")
    print()
