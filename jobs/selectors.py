from dataclasses import dataclass
from datetime import datetime

from jobs.evaluation.learned import roc_auc
from jobs.models import Attempt, Take, TakeDecision
from jobs.states import TakeState


def attempt_outcomes_by_model(*, since: datetime) -> dict[int, list[tuple[str, float | None]]]:
    """Finished attempts per provider model since a time: (state, seconds from submit to end)."""
    outcomes: dict[int, list[tuple[str, float | None]]] = {}
    finished = Attempt.objects.filter(created_at__gte=since, finished_at__isnull=False).values_list(
        "provider_model_id", "state", "created_at", "finished_at"
    )
    for model_id, state, created_at, finished_at in finished:
        outcomes.setdefault(model_id, []).append((state, (finished_at - created_at).total_seconds()))
    return outcomes


def take_upscale_ready(*, take_id: int) -> Take | None:
    """The newest ready upscale of a final that passed its checks: the version a cut should use."""
    return (Take.objects.filter(source_take_id=take_id, origin=Take.Origin.UPSCALE, state=TakeState.READY)
            .exclude(video="").order_by("-created_at", "-id").first())


def takes_upscale_ready(*, take_ids: list[int]) -> dict[int, Take]:
    """`take_upscale_ready` for many takes in one query: {take id: its newest ready upscale}, for those that have one."""
    upscales = (Take.objects.filter(source_take_id__in=take_ids, origin=Take.Origin.UPSCALE, state=TakeState.READY)
                .exclude(video="").order_by("source_take_id", "-created_at", "-id").distinct("source_take_id"))
    return {upscale.source_take_id: upscale for upscale in upscales}


def latest_decisions(*, owner_id: int | None = None) -> list[TakeDecision]:
    """The newest decision per take (a creator may change their mind), optionally of one creator."""
    decisions = TakeDecision.objects.order_by("take_id", "-id").distinct("take_id")
    if owner_id is not None:
        decisions = decisions.filter(owner_id=owner_id)
    return list(decisions)


@dataclass(frozen=True)
class GateAgreement:
    """How creators' decisions agreed with one gate (or with the overall outcome)."""

    gate: str
    passed: int  # decided takes the gate passed
    passed_rejected: int  # ... that the creator rejected anyway
    failed: int  # decided takes the gate failed or flagged for review
    failed_approved: int  # ... that the creator approved anyway

    @property
    def passed_rejected_rate(self) -> float | None:
        return self.passed_rejected / self.passed if self.passed else None

    @property
    def failed_approved_rate(self) -> float | None:
        return self.failed_approved / self.failed if self.failed else None


@dataclass(frozen=True)
class AgreementReport:
    approved: int
    rejected: int
    gates: list[GateAgreement]  # "outcome" first: the evaluation's verdict as a whole
    score_auc: float | None  # how well the aggregate separates approved from rejected takes
    scored: int  # decisions whose take had an aggregate


def decision_agreement_report() -> AgreementReport:
    """Per gate, how often creators rejected takes it passed and approved takes it failed; for the
    score, its ROC AUC between approved and rejected takes. Over the newest decision per take."""
    decisions = latest_decisions()
    verdicts: dict[str, list[tuple[bool, bool]]] = {"outcome": []}  # gate -> [(gate passed, approved)]
    for decision in decisions:
        approved = decision.decision == TakeDecision.Decision.APPROVED
        if decision.outcome:
            verdicts["outcome"].append((decision.outcome == "pass", approved))
        for gate, outcome in decision.gates.items():
            verdicts.setdefault(gate, []).append((outcome == "pass", approved))
    rows = [GateAgreement(gate, sum(p for p, _ in pairs), sum(p and not a for p, a in pairs),
                          sum(not p for p, _ in pairs), sum(a and not p for p, a in pairs))
            for gate, pairs in verdicts.items()]  # fmt: skip
    scored = [decision for decision in decisions if decision.aggregate is not None]
    approved_scores = [d.aggregate for d in scored if d.decision == TakeDecision.Decision.APPROVED]
    rejected_scores = [d.aggregate for d in scored if d.decision == TakeDecision.Decision.REJECTED]
    approved = sum(d.decision == TakeDecision.Decision.APPROVED for d in decisions)
    return AgreementReport(approved, len(decisions) - approved, rows, roc_auc(approved_scores, rejected_scores),
                           len(scored))  # fmt: skip
