"""Stage 5, evaluate: score the stored video from its real frames, then settle the take.

Runs on the evaluation queue, one worker at a time per take (the lease). A take passing every
hard check is ready and charged; one failing a check is settled as rendered-but-broken and
replaced by a regeneration where the budget allows (regenerate.py). One that needs review (a
doubtful safety flag) is ready and charged like a passed take, and nothing automatic follows: no
regeneration, no refund; the card tells the creator why, and their approve or reject decides.
"""

import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from jobs.compiler import ShotSpec
from jobs.evaluation import evaluate_take_video
from jobs.evaluation.safety import LabelThreshold
from jobs.evaluation.take import DEFAULT_GATES, EvaluationGates
from jobs.media import expected_size_for, video_size
from jobs.models import Take
from jobs.pipeline.leases import Lease, take_leased
from jobs.pipeline.regenerate import take_failed_a_check, take_regenerate
from jobs.pipeline.settle import take_fail_check, take_stage_settled, take_succeed
from jobs.pipeline.timing import media_work_timed
from jobs.states import TakeState
from providers.local.animatic import animatic_frame_size

logger = logging.getLogger(__name__)


def take_evaluate(*, take_id: int) -> None:
    with take_leased(take_id, states=(TakeState.EVALUATING,)) as lease:
        if lease is None:
            _regeneration_finish(take_id)
            return
        with take_stage_settled(take_id=take_id, lease=lease, doing="checking the video"):
            _evaluate_stored(Take.objects.select_related("provider_model", "provider_price").get(pk=take_id), lease)


def _regeneration_finish(take_id: int) -> None:
    """A take failed its check but its worker died before asking for the replacement."""
    take = Take.objects.filter(pk=take_id).first()
    if take is not None and take_failed_a_check(take) and not take.regeneration:
        take_regenerate(take_id=take_id)


def _evaluate_stored(take: Take, lease: Lease) -> None:
    """Evaluate the video as stored (MEDIA_ROOT or S3), copied into a scratch folder first."""
    with tempfile.TemporaryDirectory(prefix=f"take-{take.pk}-evaluation-") as workdir:
        with media_work_timed(take.pk, "fetch for evaluation"):
            video = storage_copy(take.video.name, Path(workdir) / Path(take.video.name).name)
        if take.provider_model.api_family == "local_animatic":
            expected = animatic_frame_size(take.aspect_ratio)
        else:  # other models pick their own resolution: only the shape must match the request
            expected = expected_size_for(take.aspect_ratio, video_size(video))
        take_evaluate_and_settle(take=take, video=video, expected_size=expected, workdir=Path(workdir), lease=lease)


def take_evaluate_and_settle(*, take: Take, video: Path, expected_size: tuple[int, int], workdir: Path,
                             lease: Lease | None) -> None:
    """Score the video from its real frames; a failed hard check fails the take with its reason."""
    spec = ShotSpec.from_request(take.request)
    references = tuple(
        storage_copy(name, workdir / "eval-refs" / f"{index:02d}-{Path(name).name}")
        for index, name in enumerate(spec.reference_image_names)
    )
    with media_work_timed(take.pk, "evaluate"):
        result = evaluate_take_video(
            video, expected_duration_seconds=take.duration_seconds, expected_width=expected_size[0],
            expected_height=expected_size[1], prompt=take.compiled_prompt, reference_images=references,
            clip_model_dir=settings.CLIP_MODEL_DIR, weights=settings.EVALUATION_WEIGHTS or None,
            media_dir=None if take.poster else workdir / "media",  # a downloaded take: stills from this decode
            gates=evaluation_gates(), expects_audio=bool(take.provider_price_id and take.provider_price.with_audio),
        )
    if result.media:
        with media_work_timed(take.pk, "store previews"):
            _media_store(take, result.media)
    evaluation = result.as_dict()
    if result.outcome == "block":
        take_fail_check(take_id=take.pk, evaluation=evaluation, lease=lease)
        take_regenerate(take_id=take.pk)
        return
    take_succeed(take_id=take.pk, evaluation=evaluation, lease=lease)


def _media_store(take: Take, media: dict[str, Path]) -> None:
    """Store the poster, thumbnail and preview the evaluation made, while the take is still being evaluated."""
    fields = [name for name in ("poster", "thumbnail", "preview") if name in media]
    for name in fields:
        with media[name].open("rb") as handle:
            getattr(take, name).save(media[name].name, File(handle), save=False)
    names = {name: getattr(take, name).name for name in fields}
    if not Take.objects.filter(pk=take.pk, state=TakeState.EVALUATING).update(**names):
        for stored in names.values():  # cancelled meanwhile: keep nothing
            default_storage.delete(stored)


def evaluation_gates() -> EvaluationGates:
    """The default gates, with ops' per-label safety thresholds (EVALUATION_SAFETY_THRESHOLDS) applied:
    a listed label becomes unsafe at those scores."""
    overrides = {label: LabelThreshold(review=review, block=block)
                 for label, (review, block) in settings.EVALUATION_SAFETY_THRESHOLDS.items()}  # fmt: skip
    if not overrides:
        return DEFAULT_GATES
    return EvaluationGates(unsafe_labels=DEFAULT_GATES.unsafe_labels | set(overrides),
                           safety_thresholds=tuple(sorted(overrides.items())))  # fmt: skip


def storage_copy(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(name, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return target
