"""Shapes of the JSON API.

Inputs check shape (types, unknown fields), text the database can store (what a form's CharField
refuses too) and the two limits the models leave to forms; the values themselves are checked by
the services' `full_clean`, so the API and the pages agree.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from jobs.models import Take
from jobs.states import TakeState
from studio.models import Project, Shot
from studio.services.approvals import stale_approvals

# Documented, not enforced here: a wrong value gets the model's own message from full_clean.
_CAMERA = {"enum": Shot.Camera.values}
_ASPECT = {"enum": Shot.AspectRatio.values}
# Enforced here as well: the model only says "constraint violated", with no field to point at.
_DURATION = {"ge": Shot.MIN_DURATION_SECONDS, "le": Shot.MAX_DURATION_SECONDS}


def _without_defaults(schema: dict) -> None:
    """A PATCH field left out is left alone; it has no default to document."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, safe to show a person")
    code: str = Field(description="A stable machine-readable name for the error")


class ValidationErrorOut(ErrorOut):
    errors: dict[str, list[str]] = Field(description='Messages by field; "__all__" for the request as a whole')


class InsufficientCreditsOut(ErrorOut):
    needed: int
    available: int


class ExclusionOut(Schema):
    provider: str
    reason: str


class UnprocessableOut(ErrorOut):
    excluded: list[ExclusionOut] = Field(None, description="With no_provider_available: every provider left out and why")


NUL_NOT_ALLOWED = "Null characters are not allowed."  # Django's own message for forms
SURROGATE_NOT_ALLOWED = "Text must be valid Unicode: lone surrogates (such as \\ud800) are not allowed."


def text_unstorable_reason(text: str) -> str | None:
    """Why the database could not store `text`, or None.

    PostgreSQL refuses NUL in text, and a lone surrogate (valid as a JSON escape) cannot be
    encoded as UTF-8 at all; either would otherwise fail at the INSERT as a server error.
    """
    if "\x00" in text:
        return NUL_NOT_ALLOWED
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_NOT_ALLOWED
    return None


class _In(Schema):
    """Request bodies refuse fields they do not know, so a misspelt field is an error, not a no-op,
    and text the database cannot store, so that it is a field error, not a server error."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _text_storable(cls, value):
        reason = isinstance(value, str) and text_unstorable_reason(value)
        if reason:
            raise PydanticCustomError("text_unstorable", reason)
        return value


class ProjectIn(_In):
    name: str
    # A TextField's max_length is not checked by full_clean, so the API checks it.
    description: str = Field("", max_length=Project._meta.get_field("description").max_length)


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    shot_count: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_shot_count(obj) -> int:
        # The list selector annotates it; a single project counts its shots.
        count = getattr(obj, "shot_count", None)
        return obj.shots.count() if count is None else count


class ShotCreateIn(_In):
    title: str
    subject: str
    scene: str = ""
    camera: str = Field(Shot.Camera.STATIC.value, json_schema_extra=_CAMERA)
    motion: str = ""
    duration_seconds: int = Field(5, **_DURATION)
    style: str = ""
    negative: str = ""
    aspect_ratio: str = Field(Shot.AspectRatio.LANDSCAPE.value, json_schema_extra=_ASPECT)


class ShotPatchIn(_In):
    """Only the fields sent are changed; none may be null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_defaults)

    title: str = Field(None)
    subject: str = Field(None)
    scene: str = Field(None)
    camera: str = Field(None, json_schema_extra=_CAMERA)
    motion: str = Field(None)
    duration_seconds: int = Field(None, **_DURATION)
    style: str = Field(None)
    negative: str = Field(None)
    aspect_ratio: str = Field(None, json_schema_extra=_ASPECT)


class ShotOut(Schema):
    id: int
    project_id: int
    position: int
    title: str
    subject: str
    scene: str
    camera: str
    motion: str
    duration_seconds: int
    style: str
    negative: str
    aspect_ratio: str
    approved_take_id: int | None
    approval_stale: bool = Field(description="The shot's prompt, references or format changed after its take was "
                                             "approved: nothing that spends credits acts on that approval until it is renewed")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_approval_stale(obj: Shot, context) -> bool:
        return obj.approved_take_id is not None and obj.pk in _stale_approvals_of(context, shot_id=obj.pk)


class ProviderOut(Schema):
    slug: str
    name: str


class QuoteOut(Schema):
    provider: ProviderOut
    credits: int = Field(description="What the take will most likely cost: charged when it comes out ready on the chosen "
                                     "provider (a fallback provider's price, at most hold_credits, if it moves to one)")
    hold_credits: int = Field(description="Held from your available credits while the take renders, enough for a fallback "
                                          "provider; what is not charged comes back. A request needs this many available.")
    why: str = Field(description="Why this provider was chosen")
    cached_take_id: int | None = Field(default=None, description="An identical ready take whose video would be reused "
                                                                  "for free (ask with fresh=true for a new render)")


class BestOfIn(_In):
    count: int = Field(ge=2, le=4, description="How many drafts, each with its own seed")


class TakeEventOut(Schema):
    from_state: str
    to_state: str
    detail: str
    at: datetime

    @staticmethod
    def resolve_at(obj) -> datetime:
        return obj.created_at


class TakeOut(Schema):
    id: int
    public_id: UUID
    shot_id: int
    tier: str = Field(json_schema_extra={"enum": Take.Tier.values})
    state: str = Field(json_schema_extra={"enum": TakeState.values})
    progress: int = Field(description="Percent, 0–100")
    review: str = Field(json_schema_extra={"enum": Take.Review.values})
    provider: ProviderOut | None
    why: str = Field(description="Why the provider was chosen")
    price_credits: int
    failure_reason: str
    origin: str = Field(json_schema_extra={"enum": Take.Origin.values},
                        description="How the take came about: a request, best of N, a final of a draft, …")
    source_take_id: int | None = Field(description="The draft a final renders, or the take this one replaces")
    batch: UUID | None = Field(description="Shared by the takes of one best-of-N request")
    cached_from_id: int | None = Field(description="Set when the take reused this take's stored video, free")
    refused_by_policy: bool = Field(description="A provider refused it under its content policy: "
                                                "POST /takes/{id}/other-provider may try another")
    video_url: str | None = Field(description="Set once the take is ready")
    poster_url: str | None
    thumbnail_url: str | None
    export_video_url: str | None = Field(description="An approved final as exported, once ready to download")
    provenance_record_url: str | None = Field(description="The exported final's provenance record (JSON)")
    export_signed: bool = Field(description="The exported video carries a signed C2PA manifest")
    evaluation: dict[str, Any]
    approval_stale: bool = Field(description="This is the shot's approved take and the shot changed since it was approved")
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_approval_stale(obj: Take, context) -> bool:
        if obj.review != Take.Review.APPROVED:
            return False
        return _stale_approvals_of(context, shot_id=obj.shot_id).get(obj.shot_id) == obj.pk

    @staticmethod
    def resolve_provider(obj: Take):
        return obj.provider_model

    @staticmethod
    def resolve_why(obj: Take) -> str:
        chosen = obj.route_plan.get("chosen") or [{}]
        return chosen[0].get("reason", "")

    @staticmethod
    def resolve_video_url(obj: Take, context) -> str | None:
        return _ready_file_url(obj, obj.video, context)

    @staticmethod
    def resolve_poster_url(obj: Take, context) -> str | None:
        return _ready_file_url(obj, obj.poster, context)

    @staticmethod
    def resolve_thumbnail_url(obj: Take, context) -> str | None:
        return _ready_file_url(obj, obj.thumbnail, context)

    @staticmethod
    def resolve_export_video_url(obj: Take, context) -> str | None:
        return _ready_file_url(obj, obj.export_video, context)

    @staticmethod
    def resolve_provenance_record_url(obj: Take, context) -> str | None:
        return _ready_file_url(obj, obj.export_record, context)


class TakeDetailOut(TakeOut):
    history: list[TakeEventOut] = Field(description="Every state change, oldest first")

    @staticmethod
    def resolve_history(obj: Take):
        return obj.events.all()


class CreditsOut(Schema):
    balance: int
    held: int = Field(description="Reserved for takes in progress")
    available: int
    low_balance: bool = Field(default=False, description="Below the low-balance warning line")


def _ready_file_url(take: Take, field, context) -> str | None:
    if take.state != TakeState.READY or not field:
        return None
    return context["request"].build_absolute_uri(field.url)


class RunIn(_In):
    mode: str = Field("autopilot", json_schema_extra={"enum": ["autopilot", "review_drafts"]},
                      description="autopilot escalates on its own; review_drafts waits for your approval of each pick")
    drafts_per_shot: int = Field(3, ge=1, le=4)
    shot_ids: list[int] | None = Field(None, description="Only these shots of the storyboard (default: every shot)")


class RunShotOut(Schema):
    id: int
    shot_id: int
    state: str
    progress: str = Field(description="drafting 2/3, scoring, escalated, final ready · 84, needs you …")
    round: int
    picked_take_id: int | None
    final_take_id: int | None
    reason: str


class RunOut(Schema):
    id: int
    project_id: int
    mode: str
    state: str
    drafts_per_shot: int
    score_threshold: int
    stop_reason: str
    forecast: dict[str, Any] = Field(description="expected, low, high, all_premium, saving_percent and per-shot lines")
    spent: int
    held: int
    saving_percent: int
    shots: list[RunShotOut]
    created_at: datetime
    finished_at: datetime | None


def _stale_approvals_of(context, *, shot_id: int) -> dict[int, int]:
    """The stale approvals of the shot's project (studio.services.approvals.stale_approvals), read once
    per request: a list of shots or takes costs the same few queries as one."""
    cache = context["request"].__dict__.setdefault("_stale_approvals", {"shots": set(), "stale": {}})
    if shot_id not in cache["shots"]:
        project_shots = Shot.objects.filter(project__shots=shot_id)
        cache["stale"].update(stale_approvals(project_shots))
        cache["shots"].update(project_shots.filter(approved_take__isnull=False).values_list("pk", flat=True))
        cache["shots"].add(shot_id)
    return cache["stale"]

