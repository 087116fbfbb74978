"""Drafting the whole storyboard at once: one price for all its shots, requested all or nothing."""

from dataclasses import dataclass, replace

from django.db import models, transaction
from django.template.defaultfilters import pluralize

from billing.exceptions import (
    BillingError,
    BudgetExceeded,
    ConcurrencyLimitReached,
    DailySpendCapReached,
    InsufficientCredits,
)
from billing.services import credits_reserve_check
from jobs.exceptions import IdempotencyKeyInProgress, TakeError
from jobs.models import Take
from jobs.pipeline.quote import TakeQuote
from studio.exceptions import StudioError
from studio.models import Project, Shot
from studio.selectors import shots_without_a_draft, storyboard_shots
from studio.services.takes import shot_take_quote, shot_take_request


class DraftScope(models.TextChoices):
    WAITING = "waiting", "Shots without a draft"
    ALL = "all", "Every shot"


@dataclass(frozen=True)
class ShotDraftLine:
    """One shot of a batch: its quote, or why it cannot be drafted (and is skipped)."""

    shot: Shot
    quote: TakeQuote | None = None
    skip_reason: str = ""


@dataclass(frozen=True)
class StoryboardDraftQuote:
    lines: tuple[ShotDraftLine, ...]
    blocked_by: str = ""  # a few words for the disabled button; empty when the batch can be paid for
    refusal: str = ""  # the whole reason, shown beside it

    @property
    def priced(self) -> tuple[ShotDraftLine, ...]:
        return tuple(line for line in self.lines if line.quote)

    @property
    def skipped(self) -> tuple[ShotDraftLine, ...]:
        return tuple(line for line in self.lines if not line.quote)

    @property
    def credits(self) -> int:
        """What the drafts cost if every one comes out ready on its first-choice model."""
        return sum(line.quote.credits for line in self.priced)

    @property
    def hold_credits(self) -> int:
        """What is held while they render: enough for each take's first fallbacks."""
        return sum(line.quote.hold_credits for line in self.priced)


@dataclass(frozen=True)
class StoryboardDraftBatch:
    takes: tuple[Take, ...]
    skipped: tuple[ShotDraftLine, ...] = ()

    @property
    def credits(self) -> int:
        return sum(take.price_credits for take in self.takes)


class DraftPriceChanged(StudioError):
    def __init__(self, *, shown: int, now: int):
        super().__init__(f"The price changed since it was shown: these drafts now cost {now} credits, not {shown}. "
                         "Nothing was requested; check the new price and draft again.")


def draft_idempotency_key(*, batch_key: str, shot_id: int, tier: str = Take.Tier.DRAFT) -> str:
    """One key per shot, derived from the batch's key, so a repeated batch finds its own takes."""
    kind = "" if tier == Take.Tier.DRAFT else f"{tier}:"
    return f"storyboard:{kind}{batch_key}:shot:{shot_id}"


def storyboard_draft_quote(*, project: Project, scope: str = DraftScope.WAITING,
                           tier: str = Take.Tier.DRAFT) -> StoryboardDraftQuote:
    """The price of drafting the shots in `scope` (or blocking them out as animatics), and whether the
    creator's credits, plan and the project's budget cover it. Reads only."""
    shots = shots_without_a_draft(project=project) if scope == DraftScope.WAITING else storyboard_shots(project=project)
    return _shots_quote(project=project, shots=list(shots), tier=tier)


def _shots_quote(*, project: Project, shots: list[Shot], tier: str = Take.Tier.DRAFT) -> StoryboardDraftQuote:
    quote = StoryboardDraftQuote(lines=tuple(_shot_line(shot, tier) for shot in shots))
    try:
        credits_reserve_check(user_id=project.owner_id, amount=quote.hold_credits, count=len(quote.priced),
                              budget_key=project.budget_key)
    except BillingError as error:
        return replace(quote, blocked_by=_blocked_by(error), refusal=_refusal(error, drafts=len(quote.priced)))
    return quote


def _shot_line(shot: Shot, tier: str = Take.Tier.DRAFT) -> ShotDraftLine:
    try:
        # Fresh: these shots want a new draft, never a stored one (e.g. after the creator rejected it).
        return ShotDraftLine(shot=shot, quote=shot_take_quote(shot=shot, fresh=True, tier=tier))
    except TakeError as error:
        return ShotDraftLine(shot=shot, skip_reason=str(error))


def _blocked_by(error: BillingError) -> str:
    if isinstance(error, InsufficientCredits):
        return "Not enough credits"
    if isinstance(error, BudgetExceeded):
        return "Over the project budget"
    if isinstance(error, ConcurrencyLimitReached | DailySpendCapReached):
        return "Over your plan's limit"
    return "Cannot be requested"


def _refusal(error: BillingError, *, drafts: int) -> str:
    """The billing refusal, said of the whole batch rather than of one take."""
    these = f"{drafts} draft{pluralize(drafts)}"
    if isinstance(error, InsufficientCredits):
        return (f"Not enough credits: {these} hold {error.needed} credits while they render and you have "
                f"{error.available} available. Add credits, or draft shots one by one.")
    if isinstance(error, BudgetExceeded):
        return (f"Over this project's budget: {error.spent} of its {error.cap} credits are spent or held, and {these} "
                f"need {error.needed} more. Raise the budget, or draft shots one by one.")
    if isinstance(error, ConcurrencyLimitReached):
        return f"{error} This batch would start {these} at once."
    return str(error)


def storyboard_draft_request(
    *, user, project: Project, shots: list[Shot], batch_key: str, shown_credits: int, tier: str = Take.Tier.DRAFT,
) -> StoryboardDraftBatch:
    """Request a draft (or an animatic) of every shot that can be routed, or of none when credits,
    plan or budget cannot cover them all. The same batch key returns the batch's takes instead of a
    second batch."""
    keys = {shot.pk: draft_idempotency_key(batch_key=batch_key, shot_id=shot.pk, tier=tier) for shot in shots}
    repeat = Take.objects.filter(owner_id=user.pk, idempotency_key__in=keys.values()).order_by("shot__position")
    if repeat:
        return StoryboardDraftBatch(takes=tuple(repeat))
    quote = _shots_quote(project=project, shots=shots, tier=tier)
    if quote.credits > shown_credits:
        raise DraftPriceChanged(shown=shown_credits, now=quote.credits)
    if quote.refusal:
        raise StudioError(quote.refusal)
    if not quote.priced:
        raise StudioError("None of these shots can be drafted right now; see the reasons under each shot.")
    try:
        return _drafts_request(user=user, quote=quote, keys=keys, tier=tier)
    except BillingError as error:  # credits moved since the check: the transaction requested nothing
        raise StudioError(_refusal(error, drafts=len(quote.priced))) from error
    except IdempotencyKeyInProgress as error:  # the same batch, sent twice at once: the first one answers
        raise StudioError("These drafts are already being requested; they appear on the shots in a moment.") from error


@transaction.atomic
def _drafts_request(*, user, quote: StoryboardDraftQuote, keys: dict[int, str],
                    tier: str = Take.Tier.DRAFT) -> StoryboardDraftBatch:
    """One transaction, so a refusal part-way rolls back every reservation before it. From the first
    reservation on it holds the account's row lock, so each shot's take uses the quote made before
    the transaction began (no storage or Redis reads under the lock). Takes are enqueued and
    announced only after commit (take_request's on_commit)."""
    takes, skipped = [], list(quote.skipped)
    for line in quote.priced:
        try:
            takes.append(shot_take_request(user=user, shot=line.shot, idempotency_key=keys[line.shot.pk], fresh=True,
                                           quote=line.quote, tier=tier))
        except IdempotencyKeyInProgress:
            raise
        except TakeError as error:  # routing changed since the quote; nothing was written for this shot
            skipped.append(ShotDraftLine(shot=line.shot, skip_reason=str(error)))
    return StoryboardDraftBatch(takes=tuple(takes), skipped=tuple(skipped))
