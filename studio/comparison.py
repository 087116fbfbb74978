"""Two to four takes of one shot side by side: the facts in aligned rows, and which cells differ.

A read, like studio.selectors: the shot comes through its access helper (404 for missing and
not-yours alike); the takes are then looked up within that shot only, so a take id of another
shot or another creator is a bad selection, never a leak.
"""

from dataclasses import dataclass, field

from jobs.models import Take
from jobs.states import TakeState
from studio.exceptions import StudioError
from studio.models import Shot
from studio.selectors import shot_get_for_user, takes_for_cards
from studio.services.approvals import approval_is_current
from studio.templatetags.studio_labels import DEFECT_LABELS

COMPARE_MIN_TAKES, COMPARE_MAX_TAKES = 2, 4


class CompareSelectionError(StudioError):
    """The takes chosen cannot be compared (too few, too many, not this shot's, not ready)."""


@dataclass
class CompareColumn:
    take: Take
    score: float | None
    price_credits: int  # what the take cost: 0 when it reused another take's video
    defects: frozenset[str]
    best_score: bool = False
    lowest_price: bool = False


@dataclass
class DefectRow:
    label: str
    present: list[bool]  # one per column, in column order
    differs: bool  # present in some takes and not in others


@dataclass
class TakeComparison:
    shot: Shot
    columns: list[CompareColumn]
    defect_rows: list[DefectRow] = field(default_factory=list)
    approval_stale: bool = False


def compare_take_ids_parse(values: list[str]) -> list[int]:
    """The `take` query values as distinct ids in the order given; a clear error for anything else."""
    try:
        ids = [int(value) for value in values]
    except ValueError:
        raise CompareSelectionError("Take ids are numbers; pick the takes with their checkboxes.") from None
    if len(set(ids)) != len(ids):
        raise CompareSelectionError("The same take is selected twice; pick different takes.")
    if not COMPARE_MIN_TAKES <= len(ids) <= COMPARE_MAX_TAKES:
        raise CompareSelectionError(
            f"Select {COMPARE_MIN_TAKES} to {COMPARE_MAX_TAKES} takes to compare ({len(ids)} selected).")
    return ids


def take_comparison_for_user(*, user, shot_id: int, take_ids: list[int]) -> TakeComparison:
    shot = shot_get_for_user(user=user, shot_id=shot_id)
    found = {take.pk: take for take in takes_for_cards(shot.takes.filter(pk__in=take_ids))}
    if missing := [take_id for take_id in take_ids if take_id not in found]:
        raise CompareSelectionError(f"Take {', '.join(f'#{pk}' for pk in missing)} is not a take of this shot.")
    if not_ready := [pk for pk in take_ids if found[pk].state != TakeState.READY or not found[pk].video]:
        raise CompareSelectionError(
            f"Take {', '.join(f'#{pk}' for pk in not_ready)} has no video yet; only ready takes can be compared.")
    columns = [_column(found[pk]) for pk in take_ids]
    _mark_best(columns)
    stale = shot.approved_take_id in found and not approval_is_current(shot=shot)
    return TakeComparison(shot=shot, columns=columns, defect_rows=_defect_rows(columns), approval_stale=stale)


def _column(take: Take) -> CompareColumn:
    evaluation = take.evaluation if isinstance(take.evaluation, dict) else {}
    aggregate = evaluation.get("aggregate")
    defects = frozenset(defect["kind"] for defect in evaluation.get("defects") or [])
    return CompareColumn(take=take, score=float(aggregate) if isinstance(aggregate, (int, float)) else None,
                         price_credits=0 if take.cached_from_id else take.price_credits, defects=defects)


def _mark_best(columns: list[CompareColumn]) -> None:
    """Best score and lowest price are marked only where the takes differ: a tie marks no one."""
    scores = {column.score for column in columns if column.score is not None}
    if len(scores) > 1:
        for column in columns:
            column.best_score = column.score == max(scores)
    prices = {column.price_credits for column in columns}
    if len(prices) > 1:
        for column in columns:
            column.lowest_price = column.price_credits == min(prices)


def _defect_rows(columns: list[CompareColumn]) -> list[DefectRow]:
    kinds = sorted(set().union(*(column.defects for column in columns)), key=lambda kind: DEFECT_LABELS.get(kind, kind))
    rows = []
    for kind in kinds:
        present = [kind in column.defects for column in columns]
        rows.append(DefectRow(label=DEFECT_LABELS.get(kind, kind), present=present, differs=len(set(present)) > 1))
    return rows
