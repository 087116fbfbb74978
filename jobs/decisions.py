"""The creator's decisions as training data: recorded with the take's metric vector, and, once a
creator has enough of them, a ranking fitted on them for their best-of-N takes.

* `take_decision_record` stores an approve or reject with the gates and metric scores the take had.
* `creator_ranking_refit` fits a logistic regression over the metric scores on the creator's
  newest decision per take, once there are EVALUATION_LEARNED_RANKING_MIN_DECISIONS of them with
  both kinds present; it then re-scores the creator's ready best-of-N takes (Take.rank_score).
  Below the threshold the ranking is removed and the default weights rank again.
* `take_rank_score_set` scores a take that just became ready with its owner's ranking, if any.
"""

from django.conf import settings
from django.db import transaction

from jobs.evaluation.learned import LogisticModel, logistic_fit, metric_scores
from jobs.evaluation.outcome import verdict_outcome
from jobs.models import CreatorRanking, Take, TakeDecision
from jobs.selectors import latest_decisions
from jobs.states import TakeState


@transaction.atomic
def take_decision_record(*, take: Take, decision: str) -> TakeDecision:
    evaluation = take.evaluation or {}
    recorded = TakeDecision.objects.create(
        take=take, owner_id=take.owner_id, decision=decision, outcome=evaluation.get("outcome", ""),
        gates={name: verdict_outcome(verdict) for name, verdict in evaluation.get("gates", {}).items()},
        metrics=metric_scores(evaluation), aggregate=evaluation.get("aggregate"),
    )  # fmt: skip
    creator_ranking_refit(owner_id=take.owner_id)
    return recorded


@transaction.atomic
def creator_ranking_refit(*, owner_id: int) -> CreatorRanking | None:
    decisions = latest_decisions(owner_id=owner_id)
    kinds = {decision.decision for decision in decisions}
    if len(decisions) < settings.EVALUATION_LEARNED_RANKING_MIN_DECISIONS or len(kinds) < 2:
        CreatorRanking.objects.filter(owner_id=owner_id).delete()
        Take.objects.filter(owner_id=owner_id, rank_score__isnull=False).update(rank_score=None)
        return None
    model = logistic_fit([decision.metrics for decision in decisions],
                         [decision.decision == TakeDecision.Decision.APPROVED for decision in decisions])  # fmt: skip
    ranking, _ = CreatorRanking.objects.update_or_create(owner_id=owner_id, defaults={
        "features": list(model.features), "coefficients": list(model.coefficients), "intercept": model.intercept,
        "decisions": len(decisions)})  # fmt: skip
    ready = Take.objects.filter(owner_id=owner_id, state=TakeState.READY, batch__isnull=False).only("pk", "evaluation")
    rescored = [_scored(take, model) for take in ready]
    Take.objects.bulk_update(rescored, ["rank_score"], batch_size=500)
    return ranking


def take_rank_score_set(*, take: Take) -> None:
    """A best-of-N take that just became ready is ranked by its owner's learned ranking, if any."""
    ranking = CreatorRanking.objects.filter(owner_id=take.owner_id).first()
    if ranking is None or not take.batch:
        return
    Take.objects.filter(pk=take.pk).update(rank_score=_scored(take, ranking_model(ranking)).rank_score)


def ranking_model(ranking: CreatorRanking) -> LogisticModel:
    return LogisticModel(tuple(ranking.features), tuple(ranking.coefficients), ranking.intercept)


def _scored(take: Take, model: LogisticModel) -> Take:
    take.rank_score = round(100 * model.probability(metric_scores(take.evaluation)), 2)
    return take
