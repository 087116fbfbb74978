"""manage.py evaluate_video on a clip with a black second: verdict, defect with its time range, metrics, score."""

import json
from io import StringIO

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
    assert report["audio"] == {"requested": True, "analysed": False, "note": report["audio"]["note"]}


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
