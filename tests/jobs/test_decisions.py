"""Creators' decisions as training data: recorded with the metric vector, compared with the gates
and the score in the admin's agreement report, and fitted into a ranking of the creator's
best-of-N takes once there are enough of them.

Takes are requested for real (best-of-N batches with their reservations) and settled ready
through take_succeed with evaluations of two kinds the default weights disagree on; the
evaluator itself is tested elsewhere, and what is under test here is what decisions do."""

import pytest
from django.contrib.auth import get_user_model

from jobs.decisions import creator_ranking_refit
from jobs.evaluation.learned import RANKING_FEATURES, feature_vector, logistic_fit, roc_auc
from jobs.models import CreatorRanking, Take, TakeDecision
from jobs.pipeline.settle import take_succeed
from jobs.selectors import decision_agreement_report
from studio.selectors import takes_for_cards
from studio.services.takes import shot_takes_request_best_of, take_approve, take_reject

pytestmark = pytest.mark.django_db


def evaluation(*, crisp: bool, safety: str = "pass") -> dict:
    """Crisp takes score high by the default weights but are dull in colour; the others are soft,
    colourful and score lower. Values vary a little so no two takes tie."""
    evaluation.counter = getattr(evaluation, "counter", 0) + 1
    wobble = (evaluation.counter % 7) / 100
    scores = ({"sharpness": 0.9 - wobble, "motion_smoothness": 0.92, "exposure": 0.9, "colourfulness": 0.1 + wobble}
              if crisp else
              {"sharpness": 0.5 + wobble, "motion_smoothness": 0.55, "exposure": 0.6, "colourfulness": 0.95 - wobble})
    aggregate = round(100 * sum(scores.values()) / len(scores), 2)
    metrics = {name: {"available": True, "value": score, "unit": "", "explanation": "", "score": score, "reason": "",
                      "detail": {}} for name, score in scores.items()}  # fmt: skip
    gates = {"technical": {"passed": True, "reason": ""},
             "safety": {"passed": safety == "pass", "outcome": safety, "reason": "" if safety == "pass" else "unsure"}}
    reasons = [] if safety == "pass" else ["unsure"]
    return {"passed": safety == "pass", "outcome": safety, "failure_reason": "".join(reasons), "aggregate": aggregate,
            "technical": {}, "metrics": metrics, "gates": gates, "weights": {}, "reasons": reasons}  # fmt: skip


def batch_ready(user, shot, kinds: list[bool]) -> list[Take]:
    """A best-of-N batch settled ready: True for a crisp take, False for a colourful one."""
    takes = shot_takes_request_best_of(user=user, shot=shot, count=len(kinds), fresh=True)
    for take, crisp in zip(takes, kinds, strict=True):
        take_succeed(take_id=take.pk, evaluation=evaluation(crisp=crisp))
    return [Take.objects.get(pk=take.pk) for take in takes]


def best_of(takes: list[Take]) -> Take:
    """The batch's best take as the card list sees it (SQL ranking) and as one card sees it (Python)."""
    cards = {take.pk: take for take in takes_for_cards(Take.objects.filter(pk__in=[t.pk for t in takes]))}
    [best] = [take for take in cards.values() if take.best_of_standing[0] == 1]
    [python_best] = [take for take in takes if Take.objects.get(pk=take.pk).best_of_standing[0] == 1]
    assert best.pk == python_best.pk
    return best


def decide_like_a_colour_lover(takes: list[Take]) -> None:
    for take in takes:
        crisp = take.evaluation["metrics"]["colourfulness"]["score"] < 0.5
        (take_reject if crisp else take_approve)(take=Take.objects.get(pk=take.pk))


def test_logistic_fit_learns_the_direction_of_a_preference():
    rows = [{"colourfulness": c, "sharpness": 1 - c} for c in (0.1, 0.2, 0.3, 0.7, 0.8, 0.9)]
    model = logistic_fit(rows, [False, False, False, True, True, True])

    assert model.probability({"colourfulness": 0.95, "sharpness": 0.05}) > 0.7
    assert model.probability({"colourfulness": 0.05, "sharpness": 0.95}) < 0.3
    assert feature_vector({}).tolist() == [0.5] * len(RANKING_FEATURES)  # unavailable metrics are neutral
    with pytest.raises(ValueError):
        logistic_fit(rows[:3], [False, False, False])


def test_roc_auc_counts_pairs_and_ties_half():
    assert roc_auc([80, 90], [10, 20]) == 1.0
    assert roc_auc([10, 20], [80, 90]) == 0.0
    assert roc_auc([50], [50]) == 0.5
    assert roc_auc([], [1]) is None


def test_every_decision_is_stored_with_the_metric_vector(catalog, creator, shot):
    crisp, colourful = batch_ready(creator, shot, [True, False])

    take_approve(take=colourful)
    take_approve(take=Take.objects.get(pk=colourful.pk))  # a repeated click is not a decision
    take_reject(take=Take.objects.get(pk=crisp.pk))
    take_approve(take=Take.objects.get(pk=crisp.pk))  # a change of mind is

    rows = list(TakeDecision.objects.order_by("id").values_list("take_id", "decision"))
    assert rows == [(colourful.pk, "approved"), (crisp.pk, "rejected"), (crisp.pk, "approved")]
    first = TakeDecision.objects.order_by("id").first()
    assert first.metrics == {name: metric["score"] for name, metric in colourful.evaluation["metrics"].items()}
    assert first.gates == {"technical": "pass", "safety": "pass"}
    assert (first.outcome, first.aggregate, first.owner_id) == ("pass", colourful.evaluation["aggregate"], creator.pk)


def test_the_agreement_report_compares_gates_and_score_with_real_decisions(catalog, creator, shot, client):
    takes = batch_ready(creator, shot, [True, True, False, False])
    doubtful = shot_takes_request_best_of(user=creator, shot=shot, count=2, fresh=True)
    for take in doubtful:
        take_succeed(take_id=take.pk, evaluation=evaluation(crisp=False, safety="needs_review"))
    decide_like_a_colour_lover(takes)
    take_approve(take=Take.objects.get(pk=doubtful[0].pk))
    take_reject(take=Take.objects.get(pk=doubtful[1].pk))

    report = decision_agreement_report()

    assert (report.approved, report.rejected) == (3, 3)
    rows = {row.gate: row for row in report.gates}
    assert (rows["technical"].passed, rows["technical"].passed_rejected, rows["technical"].failed) == (6, 3, 0)
    assert (rows["safety"].passed, rows["safety"].passed_rejected) == (4, 2)
    assert (rows["safety"].failed, rows["safety"].failed_approved, rows["safety"].failed_approved_rate) == (2, 1, 0.5)
    assert rows["outcome"].failed_approved == 1
    assert report.score_auc is not None and report.score_auc < 0.5  # the score prefers what this creator rejects

    ops = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-123")
    client.force_login(ops)
    page = client.get("/admin/jobs/takedecision/agreement/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-gate="safety"' in html and "50%" in html
    assert f"{report.score_auc:.2f}" in html
    assert "Agreement report" in client.get("/admin/jobs/takedecision/").content.decode()


def test_enough_decisions_rank_best_of_n_by_what_the_creator_approved(catalog, creator, shot, settings, client):
    settings.EVALUATION_LEARNED_RANKING_MIN_DECISIONS = 8
    training = batch_ready(creator, shot, [True, False, True, False]) + batch_ready(creator, shot, [False, True, False])
    decide_like_a_colour_lover(training)  # 7 decisions: below the threshold
    waiting = batch_ready(creator, shot, [True, False])

    assert not CreatorRanking.objects.exists()
    assert best_of(waiting).evaluation["metrics"]["colourfulness"]["score"] < 0.5  # default weights: crisp wins
    client.force_login(creator)
    page = client.get(f"/shots/{shot.pk}/").content.decode()
    assert 'data-ranking="default"' in page and 'data-ranking="learned"' not in page

    decide_like_a_colour_lover(batch_ready(creator, shot, [True, False])[:1])  # the 8th decision

    ranking = CreatorRanking.objects.get(owner=creator)
    assert ranking.decisions == 8
    assert best_of(waiting).evaluation["metrics"]["colourfulness"]["score"] > 0.5  # re-ranked by what they approved
    later = batch_ready(creator, shot, [True, False])
    assert best_of(later).evaluation["metrics"]["colourfulness"]["score"] > 0.5  # ranked when it became ready
    page = client.get(f"/shots/{shot.pk}/").content.decode()
    assert "ranked by what you approved" in page and 'data-ranking="learned"' in page

    settings.EVALUATION_LEARNED_RANKING_MIN_DECISIONS = 50  # raised by ops: back to the default weights
    creator_ranking_refit(owner_id=creator.pk)
    assert not CreatorRanking.objects.exists()
    assert best_of(waiting).evaluation["metrics"]["colourfulness"]["score"] < 0.5
