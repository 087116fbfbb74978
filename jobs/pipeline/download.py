"""Stage 4, download: fetch the finished video, store it with its stills, and queue its evaluation.

generating → downloading → evaluating. The poll that sees a job finish downloads it at once; a
take left downloading (its worker died) is driven here again by recovery, which asks the
provider once more, since output URLs expire. A video that does not even play is not stored:
the evaluation says why it is broken and the take is settled as such.
"""

import tempfile
from pathlib import Path

import av
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from jobs.media import video_size
from jobs.models import Attempt, Take
from jobs.pipeline.attempts import attempt_finished, retry_delay
from jobs.pipeline.evaluate import take_evaluate_and_settle
from jobs.pipeline.leases import Lease, take_leased
from jobs.pipeline.settle import take_fail, take_stage_settled
from jobs.pipeline.timing import media_work_timed
from jobs.pipeline.transitions import take_transition
from jobs.states import ACTIVE_STATES, Stage, TakeState
from providers.base import JobState, JobStatus, ProviderError
from providers.registry import adapter_for

OUTPUT_MAX_BYTES = 500 * 1024 * 1024


def take_download(*, take_id: int) -> None:
    """Fetch the video of a take left downloading, asking the provider for its job again."""
    with take_leased(take_id, states=(TakeState.DOWNLOADING,)) as lease:
        if lease is None:
            return
        with take_stage_settled(take_id=take_id, lease=lease, doing="fetching the finished video"):
            _take_download(take_id, lease)


def _take_download(take_id: int, lease: Lease) -> None:
    take = Take.objects.select_related("provider_model").get(pk=take_id)
    if take.video:  # stored by a download whose worker died before queueing the evaluation
        _evaluation_queue(take, lease)
        return
    model = take.provider_model
    attempt = take.attempts.filter(provider_model=model).exclude(provider_job_id="").order_by("-number").first()
    if attempt is None:
        take_fail(take_id=take.pk, lease=lease, reason=f"No job at {model.name} is known for this take, so its video cannot be fetched.")
        return
    try:
        status = adapter_for(model.api_family).status(attempt.provider_job_id)
    except ProviderError as error:
        if error.retryable:
            lease.hand_to(Stage.DOWNLOAD, after=retry_delay(error, tries=take.recoveries))
        else:
            take_fail(take_id=take.pk, lease=lease, reason=f"{model.name} no longer answers for the finished video: {error.reason}")
        return
    if status.state != JobState.SUCCEEDED:
        take_fail(take_id=take.pk, lease=lease, reason=f"{model.name} no longer offers the finished video ({status.raw_status}).")
        return
    _fetch_and_store(take, attempt, status, lease)


def take_download_from(*, take: Take, attempt: Attempt, status: JobStatus, lease: Lease) -> None:
    """Download a job the poll just saw finish."""
    take = take_transition(take_id=take.pk, to_state=TakeState.DOWNLOADING, lease=lease,
                           detail=f"fetching the video from {take.provider_model.name}")
    _fetch_and_store(take, attempt, status, lease)


def _fetch_and_store(take: Take, attempt: Attempt, status: JobStatus, lease: Lease) -> None:
    model = take.provider_model
    with tempfile.TemporaryDirectory(prefix=f"take-{take.pk}-") as workdir:
        try:
            with media_work_timed(take.pk, "download"):
                video = adapter_for(model.api_family).fetch_output(status, Path(workdir) / "take.mp4", max_bytes=OUTPUT_MAX_BYTES)
        except ProviderError as error:
            attempt_finished(take, attempt, success=False, error=error)
            take_fail(take_id=take.pk, lease=lease, reason=f"The video from {model.name} could not be fetched: {error.reason}")
            return
        attempt_finished(take, attempt, success=True)
        _store(take, video, Path(workdir), lease)


def _store(take: Take, video: Path, workdir: Path, lease: Lease) -> None:
    """Store a playable video and hand it to evaluation, whose one decode also makes the poster,
    thumbnail and preview (issue 13: one decode per take); an unplayable one is settled here and now."""
    try:
        with media_work_timed(take.pk, "probe"):
            video_size(video)  # the header only
    except (av.error.FFmpegError, ValueError, IndexError):
        take = take_transition(take_id=take.pk, to_state=TakeState.EVALUATING, lease=lease)
        take_evaluate_and_settle(take=take, video=video, expected_size=(1, 1), workdir=workdir, lease=lease)
        return
    with media_work_timed(take.pk, "store"):
        stored = take_files_store(take=take, files=(video,))
    if stored:
        _evaluation_queue(take, lease)


def take_files_store(*, take: Take, files: tuple[Path, Path, Path, Path]) -> bool:
    """Store a take's video, then optionally its stills and preview (in Take.OUTPUT_FILE_FIELDS order), in the
    configured storage.

    Returns False, keeping nothing, when the take was cancelled or failed while they were stored.
    """
    for field_name, path in zip(Take.OUTPUT_FILE_FIELDS, files):
        with path.open("rb") as handle:
            getattr(take, field_name).save(path.name, File(handle), save=False)
    names = {field_name: getattr(take, field_name).name for field_name in Take.OUTPUT_FILE_FIELDS[: len(files)]}
    stored = Take.objects.filter(pk=take.pk, state__in=ACTIVE_STATES).update(**names, heartbeat_at=timezone.now())
    if not stored:
        for name in names.values():
            default_storage.delete(name)
    return bool(stored)


@transaction.atomic
def _evaluation_queue(take: Take, lease: Lease) -> None:
    take_transition(take_id=take.pk, to_state=TakeState.EVALUATING, lease=lease)
    lease.hand_to(Stage.EVALUATE)
