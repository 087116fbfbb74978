"""From the gates' verdicts to one outcome: pass, needs review or block, with reasons in order.

A gate verdict is {"passed", "reason", ...}; a gate that is unsure says "outcome": "needs_review"
(only safety does, today). Any blocking verdict blocks the take; otherwise any doubtful one asks
the creator; otherwise it passes.

Reasons come most specific first, so the one a creator reads first is the one they can act on:
a clear safety violation (labels seen on several frames), then defects measured in the video
(technical checks, cuts, flicker, audio), then a gate that could not run at all, and a doubtful
flag last. A doubtful safety flag therefore never hides a technical defect.
"""

from jobs.evaluation.safety import BLOCK, NEEDS_REVIEW, PASS

CLEAR_VIOLATION, MEASURED_DEFECT, UNCHECKED, DOUBTFUL = range(4)


def verdict_outcome(verdict: dict) -> str:
    if verdict["passed"]:
        return PASS
    return verdict.get("outcome", BLOCK)


def verdicts_ordered(verdicts: dict[str, dict]) -> dict[str, dict]:
    """The verdicts with the failing ones first, most specific first; passing ones keep their order."""
    order = {name: position for position, name in enumerate(verdicts)}
    ranked = sorted(verdicts, key=lambda name: (_specificity(name, verdicts[name]), order[name]))
    return {name: verdicts[name] for name in ranked}


def evaluation_outcome(verdicts: dict[str, dict]) -> tuple[str, list[str]]:
    """(outcome, every failing gate's reason, most specific first)."""
    ordered = verdicts_ordered(verdicts)
    outcomes = {verdict_outcome(verdict) for verdict in ordered.values()}
    outcome = BLOCK if BLOCK in outcomes else NEEDS_REVIEW if NEEDS_REVIEW in outcomes else PASS
    return outcome, [verdict["reason"] for verdict in ordered.values() if not verdict["passed"] and verdict["reason"]]


def _specificity(name: str, verdict: dict) -> int:
    if verdict["passed"]:
        return DOUBTFUL + 1
    if verdict_outcome(verdict) == NEEDS_REVIEW:
        return DOUBTFUL
    if verdict.get("unchecked"):
        return UNCHECKED
    return CLEAR_VIOLATION if name == "safety" else MEASURED_DEFECT
