"""Importing a shot list (CSV or JSON, one row per shot) into a storyboard: all rows or none.

`shot_import_read` turns the file into rows and says what is wrong with each (or with the file);
`shot_import_commit` creates the shots of a list with no errors in one transaction. Commit reads
the rows again against the project as it is then (a character may have gone meanwhile), so it
never relies on what a preview said earlier.
"""

import csv
import io
import json
import math
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.template.defaultfilters import pluralize

from studio.exceptions import StudioError
from studio.models import CharacterReference, Project, Shot

SHOT_IMPORT_MAX_ROWS = 500
SHOT_IMPORT_MAX_BYTES = 512 * 1024  # 500 full rows fit easily; 10,000 rows are refused before parsing

# The columns a shot list may have, and the aliases that mean the same (the API's field names).
COLUMNS = ("title", "subject", "scene", "camera", "motion", "duration", "aspect", "characters", "style", "negative")
REQUIRED_COLUMNS = ("title", "subject")
ALIASES = {"duration_seconds": "duration", "aspect_ratio": "aspect"}
CHARACTER_SEPARATOR = ";"  # in a CSV cell: "Mei; Jun" (a comma would split the CSV column)


class ShotImportRefused(StudioError):
    """The file, or one of its rows, cannot be imported; nothing was created."""


@dataclass
class ShotImportRow:
    """One row as read: the shot fields it sets, its characters by name, and what is wrong with it."""

    number: int  # 1 for the first shot (the CSV header is not counted)
    source: dict  # the row's cells as strings (kept for the preview and for commit to read again)
    fields: dict = field(default_factory=dict)
    character_names: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class ShotImportPreview:
    rows: list[ShotImportRow] = field(default_factory=list)
    file_error: str = ""  # what makes the whole file unusable; no rows then

    @property
    def error_count(self) -> int:
        return sum(1 for row in self.rows if row.errors)

    @property
    def ok(self) -> bool:
        return not self.file_error and bool(self.rows) and not self.error_count

    @property
    def sources(self) -> list[dict]:
        return [row.source for row in self.rows]


def shot_import_read(*, project: Project, data: bytes, filename: str) -> ShotImportPreview:
    """Read a shot list file against the project. Reads only; never raises for bad input."""
    try:
        sources = _file_rows(data=data, filename=filename)
    except ShotImportRefused as error:
        return ShotImportPreview(file_error=str(error))
    return shot_import_check(project=project, sources=sources)


def shot_import_check(*, project: Project, sources: list[dict]) -> ShotImportPreview:
    """Each row's shot fields and errors, against the project's characters as they are now."""
    characters = {character.name.casefold(): character.name
                  for character in CharacterReference.objects.filter(project=project).only("name")}
    return ShotImportPreview(rows=[_row_read(number, source, characters)
                                   for number, source in enumerate(sources, start=1)])


@transaction.atomic
def shot_import_commit(*, project: Project, sources: list[dict]) -> list[Shot]:
    """Create one shot per row, after the storyboard's last shot, or none when any row is wrong."""
    preview = shot_import_check(project=project, sources=sources)
    if not preview.ok:
        raise ShotImportRefused(_refusal(preview))
    last = Project.objects.select_for_update().filter(pk=project.pk).aggregate(last=Max("shots__position"))["last"] or 0
    shots = [Shot(project=project, position=last + row.number, **row.fields) for row in preview.rows]
    created = Shot.objects.bulk_create(shots)
    characters = {character.name.casefold(): character for character in project.characters.all()}
    links = [Shot.characters.through(shot_id=shot.pk, characterreference_id=characters[name.casefold()].pk)
             for shot, row in zip(created, preview.rows, strict=True) for name in row.character_names]
    Shot.characters.through.objects.bulk_create(links)
    return created


def _refusal(preview: ShotImportPreview) -> str:
    if preview.file_error:
        return preview.file_error
    if not preview.rows:
        return "The shot list has no rows. Nothing was created."
    count = preview.error_count
    return f"{count} row{pluralize(count)} of the shot list {pluralize(count, 'has,have')} errors. Nothing was created."


# ---------------------------------------------------------------- the file


def _file_rows(*, data: bytes, filename: str) -> list[dict]:
    if len(data) > SHOT_IMPORT_MAX_BYTES:
        raise ShotImportRefused(f"The file is {len(data) // 1024:,} KB; a shot list may be up to "
                                f"{SHOT_IMPORT_MAX_BYTES // 1024} KB ({SHOT_IMPORT_MAX_ROWS} shots). Split it into smaller lists.")
    if not data.strip():
        raise ShotImportRefused("The file is empty. Upload a CSV or JSON file with one row per shot.")
    if b"\0" in data:
        raise ShotImportRefused("The file contains NUL bytes, so it is not a text file. Export the list as CSV or JSON.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ShotImportRefused(f"The file is not UTF-8 text (byte {error.start + 1} cannot be read). "
                                "Save it as UTF-8 CSV or JSON and upload it again.") from None
    is_json = filename.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{")
    sources = _json_rows(text) if is_json else _csv_rows(text)
    if not sources:
        raise ShotImportRefused("The file has no shots in it, only a header. Add one row per shot.")
    if len(sources) > SHOT_IMPORT_MAX_ROWS:
        raise ShotImportRefused(f"The file has more than {SHOT_IMPORT_MAX_ROWS} shots; import at most "
                                f"{SHOT_IMPORT_MAX_ROWS} at a time.")
    return [{name: source.get(name, "") for name in COLUMNS} for source in sources]  # a column left out is empty


def _csv_rows(text: str) -> list[dict]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _columns([cell.strip().lower() for cell in next(reader)])
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(rows) == SHOT_IMPORT_MAX_ROWS:
                return rows + [{}]  # one too many: the caller refuses the file without reading the rest
            if len(cells) > len(header):
                raise ShotImportRefused(f"Row {len(rows) + 1} has {len(cells)} cells but the header names "
                                        f"{len(header)} columns. Quote cells that contain commas.")
            rows.append({name: cells[index].strip() if index < len(cells) else "" for index, name in enumerate(header)})
    except csv.Error as error:
        raise ShotImportRefused(f"The CSV cannot be read: {error}.") from None
    return rows


def _json_rows(text: str) -> list[dict]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ShotImportRefused(f"The JSON cannot be read: {error.msg} (line {error.lineno}, column {error.colno}).") from None
    if isinstance(document, dict) and isinstance(document.get("shots"), list):
        document = document["shots"]
    if not isinstance(document, list):
        raise ShotImportRefused('A JSON shot list is a list of shots, e.g. [{"title": …, "subject": …}], '
                                'or {"shots": [...]}.')
    if len(document) > SHOT_IMPORT_MAX_ROWS:
        return [{}] * (SHOT_IMPORT_MAX_ROWS + 1)
    rows = []
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise ShotImportRefused(f"Shot {number} of the JSON list is not an object with named fields.")
        keys = _columns([str(key).strip().lower() for key in item])
        rows.append({name: _json_cell(number, name, value) for name, value in zip(keys, item.values(), strict=True)})
    return rows


def _json_cell(number: int, name: str, value) -> str | list:
    if name == "characters" and isinstance(value, list):
        return [str(item).strip() for item in value]
    if isinstance(value, list | dict):
        raise ShotImportRefused(f"Shot {number} of the JSON list has a {type(value).__name__} as its {name}; "
                                "it must be text or a number" + (" (characters may be a list of names)."
                                                                  if name == "characters" else "."))
    return "" if value is None else str(value).strip()


def _columns(names: list[str]) -> list[str]:
    """The columns by their own names; unknown, repeated or missing ones refuse the file."""
    columns = [ALIASES.get(name, name) for name in names]
    unknown = [name or "(a blank header cell)" for name in names if ALIASES.get(name, name) not in COLUMNS]
    if unknown:
        raise ShotImportRefused(f"Unknown column{pluralize(len(unknown))}: {', '.join(unknown)}. "
                                f"A shot list may have: {', '.join(COLUMNS)}.")
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ShotImportRefused(f"Column {', '.join(repeated)} appears more than once.")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ShotImportRefused(f"The shot list needs a {' and a '.join(missing)} column.")
    return columns


# ---------------------------------------------------------------- one row


def _row_read(number: int, source: dict, characters: dict[str, str]) -> ShotImportRow:
    row = ShotImportRow(number=number, source=source)
    cell = {name: value for name, value in source.items() if name != "characters"}
    row.fields = {"title": cell.get("title", ""), "subject": cell.get("subject", ""), "scene": cell.get("scene", ""),
                  "motion": cell.get("motion", ""), "style": cell.get("style", ""), "negative": cell.get("negative", "")}
    row.fields["camera"] = _camera(cell.get("camera", ""), row.errors)
    row.fields["duration_seconds"] = _duration(cell.get("duration", ""), row.errors)
    row.fields["aspect_ratio"] = _aspect(cell.get("aspect", ""), row.errors)
    row.character_names = _characters(source.get("characters", ""), characters, row.errors)
    _fields_check(row)
    return row


def _camera(value, errors: list[str]) -> str:
    if not isinstance(value, str) or not value:
        return Shot.Camera.STATIC if value == "" else _wrong(errors, "Camera must be a word such as dolly_in.")
    by_name = {choice.casefold(): choice for choice in Shot.Camera.values}
    by_label = {label.casefold(): choice for choice, label in Shot.Camera.choices}
    key = value.casefold().replace("-", "_")
    camera = by_name.get(key) or by_name.get(key.replace(" ", "_")) or by_label.get(value.casefold())
    if camera is None:
        return _wrong(errors, f"Unknown camera “{value}”: use one of {', '.join(Shot.Camera.values)}.")
    return camera


def _duration(value, errors: list[str]) -> int:
    if value == "":
        return 5
    try:
        seconds = float(str(value).removesuffix("s").strip())
    except ValueError:
        return _wrong(errors, f"Duration “{value}” is not a number of seconds.")
    low, high = Shot.MIN_DURATION_SECONDS, Shot.MAX_DURATION_SECONDS
    if not math.isfinite(seconds) or seconds != int(seconds) or not low <= seconds <= high:
        return _wrong(errors, f"Duration {value} s is out of range: a shot lasts {low} to {high} whole seconds.")
    return int(seconds)


def _aspect(value, errors: list[str]) -> str:
    if value == "":
        return Shot.AspectRatio.LANDSCAPE
    if value not in Shot.AspectRatio.values:
        return _wrong(errors, f"Unknown aspect “{value}”: use one of {', '.join(Shot.AspectRatio.values)}.")
    return value


def _characters(value, known: dict[str, str], errors: list[str]) -> list[str]:
    names = value if isinstance(value, list) else str(value).split(CHARACTER_SEPARATOR)
    names = [name.strip() for name in names if name.strip()]
    unknown = [name for name in names if name.casefold() not in known]
    if unknown:
        errors.append(f"Unknown character{pluralize(len(unknown))} {', '.join(f'“{name}”' for name in unknown)}: "
                      "add them on the storyboard first, or leave them out.")
    return [known[name.casefold()] for name in names if name.casefold() in known]


def _fields_check(row: ShotImportRow) -> None:
    """Lengths and blanks as the model defines them (camera, duration and aspect are checked above)."""
    shot = Shot(**{**row.fields, "camera": Shot.Camera.STATIC, "duration_seconds": 5, "aspect_ratio": "16:9"})
    try:
        shot.clean_fields(exclude=["project", "approved_take", "approved_spec_hash"])
    except ValidationError as error:
        row.errors.extend(f"{name.replace('_', ' ').capitalize()}: {' '.join(messages)}"
                          for name, messages in error.message_dict.items())


def _wrong(errors: list[str], message: str):
    errors.append(message)
    return None
