"""The quality gate on a labelled corpus (tests/jobs/video_corpus.py): per defect family, recall and
correct label; false alarms on clean clips; and the score ordering (a defect always lowers it)."""

import json
from collections import defaultdict

import pytest

from jobs.evaluation import EvaluationGates, evaluate_take_video
from jobs.evaluation.defects import GATED_KINDS, defects_find
from jobs.evaluation.frames import FramesUnreadable, video_frames_read
from tests.jobs.video_corpus import (
    CLEAN_KINDS,
    DEFECT_FAMILIES,
    HEIGHT,
    SECONDS,
    WIDTH,
    clean_clip,
    defective_clip,
)

PER_FAMILY = 6  # clips per defect family (sources and positions vary with the seed)
CLEAN_PER_KIND = 3
DEFECT_SOURCES = ("photo_pan", "whip_pan", "animation")
TIME_SLACK = 0.25  # seconds a reported range may sit off the injected one


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    clips = [clean_clip(folder, kind, seed) for kind in CLEAN_KINDS for seed in range(CLEAN_PER_KIND)]
    clips += [defective_clip(folder, family, DEFECT_SOURCES[seed % 3], 10 + seed)
              for family in DEFECT_FAMILIES for seed in range(PER_FAMILY)]  # fmt: skip
    analysed = []
    for clip in clips:
        try:
            frames = video_frames_read(clip.path)
        except FramesUnreadable:
            analysed.append((clip, [("undecodable", 0.0, 0.0)]))
            continue
        defects = defects_find(frames, expected_seconds=SECONDS, expected_size=(WIDTH, HEIGHT))
        analysed.append((clip, [(defect.kind, defect.start, defect.end) for defect in defects]))
    return analysed


def _gated(clip, defects) -> list[tuple]:
    gated = [defect for defect in defects if defect[0] in GATED_KINDS]
    cuts = [defect for defect in gated if defect[0] == "cut"]
    if len(cuts) <= clip.allowed_cuts:  # an edit that was asked for
        gated = [defect for defect in gated if defect[0] != "cut"]
    return gated


def _labelled_right(clip, defects) -> bool:
    matching = [defect for defect in defects if defect[0] == clip.expected_kind]
    if clip.start is None:
        return bool(matching)
    return any(start - TIME_SLACK <= clip.end and end + TIME_SLACK >= clip.start for _, start, end in matching)


def test_every_defect_family_is_caught_and_labelled_where_it_happens(corpus):
    caught, labelled, total = defaultdict(int), defaultdict(int), defaultdict(int)
    misses = []
    for clip, defects in corpus:
        if clip.family == "clean":
            continue
        total[clip.family] += 1
        caught[clip.family] += bool(_gated(clip, defects))
        labelled[clip.family] += _labelled_right(clip, defects)
        if not _labelled_right(clip, defects):
            misses.append((clip.family, clip.source, clip.start, clip.end, defects))
    for family in DEFECT_FAMILIES:
        assert caught[family] / total[family] >= 0.95, (family, misses)
        assert labelled[family] / total[family] >= 0.90, (family, misses)


def test_clean_clips_raise_no_false_alarm(corpus):
    clean = [(clip, defects) for clip, defects in corpus if clip.family == "clean"]
    alarms = [(clip.source, _gated(clip, defects)) for clip, defects in clean if _gated(clip, defects)]

    assert len(alarms) / len(clean) <= 0.05, alarms


def test_the_edit_is_one_cut_and_the_fade_is_no_cut(corpus):
    for clip, defects in corpus:
        kinds = [defect[0] for defect in defects]
        if clip.family == "clean" and clip.source == "edit":
            assert kinds.count("cut") == 1, defects
        if clip.family == "clean" and clip.source == "fade":
            assert "cut" not in kinds and "black" not in kinds and "fade" in kinds, defects


# --- Scores ---------------------------------------------------------------------------------

NO_SAFETY = EvaluationGates(safety=False)  # the safety detector's own false flags are issue 13 item 2


def _evaluate(path, **options):
    return evaluate_take_video(path, expected_duration_seconds=SECONDS, expected_width=WIDTH, expected_height=HEIGHT,
                               gates=NO_SAFETY, **options)  # fmt: skip


@pytest.mark.parametrize("source", ["photo_pan"])
def test_every_injected_defect_lowers_the_score_and_a_failed_gate_scores_at_most_20(tmp_path, source):
    clean = _evaluate(clean_clip(tmp_path, source, 3).path)
    assert clean.passed, clean.failure_reason
    assert clean.aggregate > 20
    for family in DEFECT_FAMILIES:
        defective = _evaluate(defective_clip(tmp_path, family, source, 3).path)
        assert not defective.passed, family
        assert defective.aggregate is None or defective.aggregate <= 20, (family, defective.aggregate)
        assert defective.aggregate is None or defective.aggregate < clean.aggregate, family
        stored = json.loads(json.dumps(defective.as_dict()))
        assert stored["defects"] and {"kind", "start", "end", "value"} <= set(stored["defects"][0]), family


def test_a_still_copy_never_outranks_the_moving_clip_even_ungated(tmp_path):
    """A still picture is perfectly "smooth": without the frozen gate it must still score lower."""
    from tests.jobs.video_corpus import clip_write, source

    render = source("photo_pan", 4)
    moving = [render(index / 24) for index in range(round(SECONDS * 24))]
    ungated = EvaluationGates(technical=False, safety=False, hard_cuts=False, flicker=False, dropped_time=False,
                              noise=False)  # fmt: skip
    options = {"expected_duration_seconds": SECONDS, "expected_width": WIDTH, "expected_height": HEIGHT,
               "gates": ungated}  # fmt: skip
    moving_score = evaluate_take_video(clip_write(tmp_path / "moving.mp4", moving), **options).aggregate
    still_score = evaluate_take_video(clip_write(tmp_path / "still.mp4", [moving[0]] * len(moving)), **options).aggregate

    assert still_score < moving_score - 10, (still_score, moving_score)
