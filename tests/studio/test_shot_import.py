"""Importing a shot list: every bad input gets a clear per-row or per-file error and creates nothing."""

import json
import time

import pytest

from studio.models import Shot
from studio.services.projects import character_create
from studio.services.shot_import import (
    SHOT_IMPORT_MAX_ROWS,
    ShotImportRefused,
    shot_import_commit,
    shot_import_read,
)
from tests.factories import shot_for

pytestmark = pytest.mark.django_db

HEADER = "title,subject,scene,camera,motion,duration,aspect,characters\n"


@pytest.fixture
def mei(project):
    return character_create(project=project, name="Mei")


def read(project, text: str | bytes, filename: str = "shots.csv"):
    return shot_import_read(project=project, data=text.encode() if isinstance(text, str) else text, filename=filename)


def test_a_csv_list_previews_then_creates_every_shot_after_the_last_one(project, shot, mei):
    jun = character_create(project=project, name="Jun")
    preview = read(project, HEADER + 'Arrival,"Mei walks in, wet",Market,Dolly in,Steam,4,9:16,mei; Jun\n'
                                      "Stall,A grill stall,,pan_right,,3,,\n")

    assert preview.ok and [row.errors for row in preview.rows] == [[], []]
    assert Shot.objects.filter(project=project).count() == 1  # a preview creates nothing

    created = shot_import_commit(project=project, sources=preview.sources)

    arrival, stall = Shot.objects.filter(pk__in=[shot.pk for shot in created]).order_by("position")
    assert (arrival.position, stall.position) == (shot.position + 1, shot.position + 2)
    assert (arrival.subject, arrival.camera, arrival.duration_seconds, arrival.aspect_ratio) == (
        "Mei walks in, wet", "dolly_in", 4, "9:16")
    assert set(arrival.characters.all()) == {mei, jun} and not stall.characters.exists()
    assert (stall.camera, stall.aspect_ratio, stall.scene) == ("pan_right", "16:9", "")


def test_a_json_list_with_character_lists_and_aliases(project, mei):
    document = {"shots": [{"title": "Arrival", "subject": "Mei walks in", "camera": "orbit", "duration_seconds": 6,
                           "aspect_ratio": "1:1", "characters": ["Mei"]}]}
    preview = read(project, json.dumps(document), filename="list.json")

    [shot] = shot_import_commit(project=project, sources=preview.sources)

    assert (shot.camera, shot.duration_seconds, shot.aspect_ratio) == ("orbit", 6, "1:1")
    assert list(shot.characters.all()) == [mei]


def test_bad_values_are_reported_on_their_row_and_nothing_is_created(project, mei):
    preview = read(project, HEADER + "Good,A subject,,static,,5,16:9,Mei\n"
                                     "Zoom,A subject,,crash_zoom,,5,16:9,\n"
                                     "Long,A subject,,static,,21,16:9,\n"
                                     "Half,A subject,,static,,2.5,16:9,\n"
                                     "Word,A subject,,static,,five,16:9,\n"
                                     "Wide,A subject,,static,,5,21:9,\n"
                                     "Who,A subject,,static,,5,16:9,Mei; Ghost\n"
                                     ",No title,,static,,5,16:9,\n"
                                     f"{'T' * 121},A subject,,static,,5,16:9,\n")

    errors = {row.number: " ".join(row.errors) for row in preview.rows}
    assert not preview.ok and preview.error_count == 8
    assert errors[1] == ""
    assert "Unknown camera “crash_zoom”" in errors[2]
    assert "out of range" in errors[3] and "out of range" in errors[4]
    assert "“five” is not a number" in errors[5]
    assert "Unknown aspect “21:9”" in errors[6]
    assert "Unknown character “Ghost”" in errors[7]
    assert errors[8].startswith("Title:") and "Title:" in errors[9]
    with pytest.raises(ShotImportRefused, match="8 rows of the shot list have errors. Nothing was created."):
        shot_import_commit(project=project, sources=preview.sources)
    assert not Shot.objects.filter(project=project).exists()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "The file is empty"),
    (b"  \n", "The file is empty"),
    (HEADER.encode(), "only a header"),
    (b"title,subject,lens\nA,B,50mm\n", "Unknown column: lens"),
    (b"title,subject,title\nA,B,C\n", "Column title appears more than once"),
    (b"title,camera\nA,static\n", "needs a subject column"),
    (b"title,subject\nA,B,C,D\n", "Row 1 has 4 cells"),
    ("title,subject\nCaf\u00e9,B\n".encode("latin-1"), "not UTF-8"),
    (b"title,subject\nA\0,B\n", "NUL bytes"),
    (b'[{"title": "A", "subject": "B"', "The JSON cannot be read"),
    (b'{"title": "A"}', "A JSON shot list is a list"),
    (b'["A", "B"]', "Shot 1 of the JSON list is not an object"),
    (b'[{"title": "A", "subject": "B", "lens": "50mm"}]', "Unknown column: lens"),
    (b'[{"title": ["A"], "subject": "B"}]', "Shot 1 of the JSON list has a list as its title"),
    (b"title,subject,\nA,B,\n", "Unknown column: (a blank header cell)"),
])
def test_a_file_that_cannot_be_read_says_why_and_has_no_rows(project, data, message):
    preview = read(project, data)

    assert message in preview.file_error and not preview.rows and not preview.ok
    with pytest.raises(ShotImportRefused):
        shot_import_commit(project=project, sources=preview.sources)


def test_ten_thousand_rows_are_refused_fast_and_the_limit_is_accepted(project):
    small_rows = HEADER + "A,B,,,,,,\n" * 10_000  # small enough in bytes to be parsed: refused by count
    started = time.perf_counter()
    preview = read(project, small_rows)
    assert f"more than {SHOT_IMPORT_MAX_ROWS} shots" in preview.file_error
    large = read(project, HEADER + "A title,A long subject that makes the file large,,,,,,\n" * 10_000)
    assert "may be up to 512 KB" in large.file_error
    as_json = read(project, json.dumps([{"title": "A", "subject": "B"}] * 10_000), filename="x.json")
    assert f"more than {SHOT_IMPORT_MAX_ROWS} shots" in as_json.file_error
    assert time.perf_counter() - started < 0.5

    assert read(project, HEADER + "A,B,,,,,,\n" * SHOT_IMPORT_MAX_ROWS).ok


def test_commit_reads_the_rows_again_against_the_project_as_it_is_now(project, mei):
    preview = read(project, HEADER + "Arrival,Mei walks in,,,,,,Mei\n")
    assert preview.ok
    mei.delete()  # after the preview, before the commit

    with pytest.raises(ShotImportRefused, match="1 row of the shot list has errors"):
        shot_import_commit(project=project, sources=preview.sources)
    assert not Shot.objects.filter(project=project).exists()


def test_an_existing_storyboard_keeps_its_shots_when_an_import_is_refused(project):
    first = shot_for(project, title="Kept")

    preview = read(project, HEADER + "A,B,,zoom,,,,\n")

    with pytest.raises(ShotImportRefused):
        shot_import_commit(project=project, sources=preview.sources)
    assert list(Shot.objects.filter(project=project)) == [first]
