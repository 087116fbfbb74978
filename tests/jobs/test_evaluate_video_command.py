"""manage.py evaluate_video on a clip with a black second: verdict, defect with its time range, metrics, score."""

import json
import re
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.jobs.video_corpus import defective_clip


def test_json_report_names_the_defect_with_its_time_range(tmp_path):
    clip = defective_clip(tmp_path, "black", "photo_pan", 3)
    out = StringIO()

    call_command("evaluate_video", str(clip.path), "--duration", "2", "--aspect", "16:9", "--audio", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["passed"] is False and report["outcome"] == "block"
    black = [defect for defect in report["defects"] if defect["kind"] == "black"]
    assert len(black) == 1
    assert black[0]["start"] == pytest.approx(clip.start, abs=0.05)
    assert black[0]["end"] == pytest.approx(clip.end, abs=0.05)
    assert report["score"] <= 20
    assert report["metrics"]["dynamic_degree"]["available"]
    assert report["audio"]["requested"] is True and report["audio"]["passed"] is False
    assert report["audio"]["defects"] == [{"kind": "no_audio", "start": 0.0, "end": 2.0, "value": None}]
    assert {"kind": "no_audio", "start": 0.0, "end": 2.0, "value": None, "detail": "soundtrack"} in report["defects"]


def test_audio_reports_the_soundtrack_measured_by_audio_defects(tmp_path):
    from jobs.evaluation.audio import audio_defects
    from tests.jobs.test_evaluation_audio import clip_with_sound, tone

    clip = clip_with_sound(tmp_path / "clipped.mov", np.clip(tone(2, 12), -1, 1), pcm=True)
    measured = audio_defects(clip, expects_audio=True, video_duration_seconds=2)
    out = StringIO()

    call_command("evaluate_video", str(clip), "--duration", "2", "--aspect", "4:3", "--audio", "--json", stdout=out)

    report = json.loads(out.getvalue())
    sound = report["audio"]
    assert sound["analysed"] and sound["defects"] == measured.defects
    assert sound["loudness_lufs"] == measured.loudness_lufs and sound["clipped_share"] == measured.clipped_share
    assert report["outcome"] == "block" and report["reason"] == measured.blocking_reason
    soundtrack = [defect["kind"] for defect in report["defects"] if defect["detail"] == "soundtrack"]
    assert "clipping" in soundtrack and soundtrack == [defect["kind"] for defect in measured.defects]


def test_text_report_shows_the_audio_dimension(tmp_path):
    from tests.jobs.test_evaluation_audio import clip_with_sound, tone

    out = StringIO()
    call_command("evaluate_video", str(clip_with_sound(tmp_path / "good.mp4", tone(2, -18))), "--duration", "2",
                 "--aspect", "4:3", "--audio", stdout=out)  # fmt: skip

    text = out.getvalue()
    assert text.startswith("Verdict: PASS"), text
    assert re.search(r"Audio \(asked for\): passes; loudness -1[78]\.\d+ LUFS", text) and "no defects" in text


def test_text_report_of_a_clean_clip(tmp_path):
    from tests.jobs.video_corpus import clean_clip

    out = StringIO()
    call_command("evaluate_video", str(clean_clip(tmp_path, "animation", 1).path), "--duration", "2", "--aspect",
                 "16:9", stdout=out)  # fmt: skip

    text = out.getvalue()
    assert text.startswith("Verdict: PASS") and "Defects: none" in text and "dynamic_degree" in text


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError):
        call_command("evaluate_video", str(tmp_path / "nope.mp4"), "--duration", "2", "--aspect", "16:9")
