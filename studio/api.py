"""JSON API operations: parse, call one selector or service, return a schema.

Every object is reached through a `studio.selectors` access helper, so another creator's ids
answer 404 exactly like missing ones. Domain errors become HTTP in `studio.config.api`.
"""

import re

from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate

from billing.selectors import credit_account_for_user
from jobs.pipeline import settle
from studio import selectors
from studio.api_webhooks import webhooks_router
from studio.auth_tokens import api_token_auth
from studio.schemas import (
    BestOfIn,
    CreditsOut,
    ErrorOut,
    InsufficientCreditsOut,
    ProjectIn,
    ProjectOut,
    QuoteOut,
    RunIn,
    RunOut,
    ShotCreateIn,
    ShotOut,
    ShotPatchIn,
    TakeDetailOut,
    TakeOut,
    UnprocessableOut,
    ValidationErrorOut,
)
from studio.services import projects as project_services
from studio.services import takes as take_services
from studio.services.runs import lifecycle as run_services
from studio.services.runs.progress import run_progress

projects_router = Router(auth=api_token_auth, tags=["projects"])
shots_router = Router(auth=api_token_auth, tags=["shots"])
takes_router = Router(auth=api_token_auth, tags=["takes"])
credits_router = Router(auth=api_token_auth, tags=["credits"])

NOT_FOUND = {404: ErrorOut}
INVALID = {422: ValidationErrorOut}


class BoundedLimitOffset(LimitOffsetPagination):
    """?limit= and ?offset= within bounds: unbounded, a 40-digit number overflowed the database's
    64-bit LIMIT/OFFSET and answered 500 instead of 422."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=100, description="Items per page, at most 100")
        # Far past any creator's list, and small enough that offset + limit fits every database.
        offset: int = Field(0, ge=0, le=1_000_000_000)


# Projects

@projects_router.get("/projects", response=list[ProjectOut])
@paginate(BoundedLimitOffset)
def project_list(request):
    return selectors.projects_for_user(user=request.auth)


@projects_router.post("/projects", response={201: ProjectOut, **INVALID})
def project_create(request, payload: ProjectIn):
    return Status(201, project_services.project_create(owner=request.auth, **payload.dict()))


@projects_router.get("/projects/{int:project_id}", response={200: ProjectOut, **NOT_FOUND})
def project_detail(request, project_id: int):
    return selectors.project_get_for_user(user=request.auth, project_id=project_id)


# Shots

@shots_router.get("/projects/{int:project_id}/shots", response=list[ShotOut])
@paginate(BoundedLimitOffset)
def shot_list(request, project_id: int):
    project = selectors.project_get_for_user(user=request.auth, project_id=project_id)
    return selectors.storyboard_shots(project=project)


@shots_router.post("/projects/{int:project_id}/shots", response={201: ShotOut, **NOT_FOUND, **INVALID})
def shot_create(request, project_id: int, payload: ShotCreateIn):
    project = selectors.project_get_for_user(user=request.auth, project_id=project_id)
    return Status(201, project_services.shot_create(project=project, **payload.dict()))


@shots_router.get("/shots/{int:shot_id}", response={200: ShotOut, **NOT_FOUND})
def shot_detail(request, shot_id: int):
    return selectors.shot_get_for_user(user=request.auth, shot_id=shot_id)


@shots_router.patch("/shots/{int:shot_id}", response={200: ShotOut, **NOT_FOUND, **INVALID})
def shot_update(request, shot_id: int, payload: ShotPatchIn):
    shot = selectors.shot_get_for_user(user=request.auth, shot_id=shot_id)
    return project_services.shot_update(shot=shot, **payload.dict(exclude_unset=True))


@shots_router.get("/shots/{int:shot_id}/quote", response={200: QuoteOut, **NOT_FOUND, 422: UnprocessableOut})
def shot_quote(request, shot_id: int, fresh: bool = False):
    """What a draft take of the shot would cost now, on which provider, and why (0 when it reuses a stored take)."""
    shot = selectors.shot_get_for_user(user=request.auth, shot_id=shot_id)
    return _quote_out(take_services.shot_take_quote(shot=shot, fresh=fresh))


def _quote_out(quote) -> QuoteOut:
    return QuoteOut(provider=quote.provider_model, credits=quote.charge_credits,
                    hold_credits=0 if quote.cached else quote.hold_credits, why=quote.plan.first.reason,
                    cached_take_id=quote.cached.pk if quote.cached else None)


# Takes

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")  # printable ASCII, as Stripe and the IETF draft use
IDEMPOTENCY_KEY_DOC = {
    "parameters": [{
        "in": "header", "name": IDEMPOTENCY_KEY_HEADER, "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": "A unique key per intended take, e.g. a UUID. Retrying with the same key returns the same "
                       "take instead of starting (and paying for) another; reusing it for a different request is refused.",
    }],
}


class IdempotencyKeyHeaderError(HttpError):
    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(400, message)


def _idempotency_key(request) -> str:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER, "").strip()
    if not key:
        raise IdempotencyKeyHeaderError("idempotency_key_missing", f"Send an {IDEMPOTENCY_KEY_HEADER} header (a unique "
                                        "string such as a UUID) so that a retried request cannot start a second take.")
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise IdempotencyKeyHeaderError("idempotency_key_invalid",
                                        f"The {IDEMPOTENCY_KEY_HEADER} header must be 1 to 255 printable ASCII characters.")
    return key


TAKE_REQUEST_ANSWERS = {201: TakeDetailOut, 200: TakeDetailOut, 400: ErrorOut, 402: InsufficientCreditsOut, **NOT_FOUND,
                        409: ErrorOut, 422: UnprocessableOut}


def _created_or_replayed(take, *, started) -> Status:
    """201 for a take this request created; 200 for the take an earlier request with the key created."""
    return Status(201 if take.created_at >= started else 200, take)


@takes_router.post("/shots/{int:shot_id}/takes", response=TAKE_REQUEST_ANSWERS, openapi_extra=IDEMPOTENCY_KEY_DOC)
def take_create(request, shot_id: int, fresh: bool = False):
    """Reserve the credits for a draft take of the shot and queue it.

    An unchanged shot reuses the creator's ready take of exactly this request (model, prompt, seed,
    input images) for free, and the take says so (`cached_from_id`); `fresh=true` renders anew.
    201 when this request created the take; 200 with the same take when the Idempotency-Key was
    already used for the same request (a replay); 409 while the first request with the key is
    still being carried out (retry after a moment); 422 when the key was used for a different
    request. A take is "created by this request" when it was created after the request started.
    """
    key = _idempotency_key(request)
    shot = selectors.shot_get_for_user(user=request.auth, shot_id=shot_id)
    started = timezone.now()
    take = take_services.shot_take_request(user=request.auth, shot=shot, idempotency_key=key, fresh=fresh)
    return _created_or_replayed(take, started=started)


@takes_router.post("/shots/{int:shot_id}/takes/best-of", openapi_extra=IDEMPOTENCY_KEY_DOC,
                   response={201: list[TakeDetailOut], 400: ErrorOut, 402: InsufficientCreditsOut, **NOT_FOUND,
                             409: ErrorOut, 422: UnprocessableOut})
def take_best_of_create(request, shot_id: int, payload: BestOfIn):
    """`count` fresh drafts of the shot with different seeds, reserved all or none; a replay returns the same takes."""
    key = _idempotency_key(request)
    shot = selectors.shot_get_for_user(user=request.auth, shot_id=shot_id)
    return Status(201, take_services.shot_takes_request_best_of(user=request.auth, shot=shot, count=payload.count,
                                                                fresh=True, idempotency_key=key))


@takes_router.get("/takes/{int:take_id}/final/quote", response={200: QuoteOut, **NOT_FOUND, 409: ErrorOut, 422: UnprocessableOut})
def take_final_quote(request, take_id: int):
    """What a final render of this approved draft would cost, on which provider."""
    take = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    return _quote_out(take_services.take_render_final_quote(draft=take))


@takes_router.post("/takes/{int:take_id}/final", response=TAKE_REQUEST_ANSWERS, openapi_extra=IDEMPOTENCY_KEY_DOC)
def take_final_create(request, take_id: int):
    """Render an approved draft on the final tier: same prompt, seed and references, from the draft's first frame."""
    key = _idempotency_key(request)
    draft = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    started = timezone.now()
    take = take_services.take_render_final(user=request.auth, draft=draft, idempotency_key=key)
    return _created_or_replayed(take, started=started)


@takes_router.get("/takes/{int:take_id}/upscale/quote", response={200: QuoteOut, **NOT_FOUND, 409: ErrorOut, 422: UnprocessableOut})
def take_upscale_quote(request, take_id: int):
    """What upscaling this approved final would cost, on which upscaler."""
    take = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    return _quote_out(take_services.take_upscale_quote(final=take))


@takes_router.post("/takes/{int:take_id}/upscale", response=TAKE_REQUEST_ANSWERS, openapi_extra=IDEMPOTENCY_KEY_DOC)
def take_upscale_create(request, take_id: int):
    """Upscale an approved final: a new final-tier take (origin `upscale`, `source_take` the final), charged when ready."""
    key = _idempotency_key(request)
    final = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    started = timezone.now()
    take = take_services.take_upscale(user=request.auth, final=final, idempotency_key=key)
    return _created_or_replayed(take, started=started)


@takes_router.post("/takes/{int:take_id}/other-provider", response=TAKE_REQUEST_ANSWERS, openapi_extra=IDEMPOTENCY_KEY_DOC)
def take_other_provider_create(request, take_id: int):
    """After a content-policy refusal: the same request again, on a provider other than the one(s) that refused."""
    key = _idempotency_key(request)
    refused = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    started = timezone.now()
    take = take_services.take_request_other_provider(user=request.auth, take=refused, idempotency_key=key)
    return _created_or_replayed(take, started=started)


@takes_router.get("/shots/{int:shot_id}/takes", response=list[TakeOut])
@paginate(BoundedLimitOffset)
def take_list(request, shot_id: int):
    """The shot's takes, newest first."""
    shot = selectors.shot_get_for_user(user=request.auth, shot_id=shot_id)
    return selectors.shot_takes(shot=shot)


@takes_router.get("/takes/{int:take_id}", response={200: TakeDetailOut, **NOT_FOUND})
def take_detail(request, take_id: int):
    return selectors.take_get_for_user(user=request.auth, take_id=take_id)


@takes_router.post("/takes/{int:take_id}/approve", response={200: TakeDetailOut, **NOT_FOUND, 409: ErrorOut})
def take_approve(request, take_id: int):
    """Make a ready take the shot's approved take, replacing any other."""
    take = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    return take_services.take_approve(take=take)


@takes_router.post("/takes/{int:take_id}/reject", response={200: TakeDetailOut, **NOT_FOUND, 409: ErrorOut})
def take_reject(request, take_id: int):
    take = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    return take_services.take_reject(take=take)


@takes_router.post("/takes/{int:take_id}/cancel", response={200: TakeDetailOut, **NOT_FOUND, 409: ErrorOut})
def take_cancel(request, take_id: int):
    """Stop a queued or generating take (the vendor is told where it can be) and release its credits."""
    take = selectors.take_get_for_user(user=request.auth, take_id=take_id)
    settle.take_cancel(take_id=take.pk)
    return selectors.take_get_for_user(user=request.auth, take_id=take.pk)


# Credits

@credits_router.get("/credits", response=CreditsOut)
def credits_detail(request):
    account = credit_account_for_user(user_id=request.auth.pk)
    if account is None:
        return CreditsOut(balance=0, held=0, available=0, low_balance=True)
    return CreditsOut(balance=account.balance, held=account.held, available=account.available, low_balance=account.is_low)


# Production runs

runs_router = Router(auth=api_token_auth, tags=["runs"])


def _run_out(run) -> dict:
    progress = run_progress(run=run)
    return {
        "id": run.pk, "project_id": run.project_id, "mode": run.mode, "state": run.state,
        "drafts_per_shot": run.drafts_per_shot, "score_threshold": run.score_threshold, "stop_reason": run.stop_reason,
        "forecast": run.forecast, "spent": progress.spent, "held": progress.held,
        "saving_percent": progress.saving_percent, "created_at": run.created_at, "finished_at": run.finished_at,
        "shots": [{"id": line.run_shot.pk, "shot_id": line.run_shot.shot_id, "state": line.run_shot.state,
                   "progress": line.label, "round": line.run_shot.round, "picked_take_id": line.run_shot.picked_take_id,
                   "final_take_id": line.run_shot.final_take_id, "reason": line.run_shot.reason}
                  for line in progress.shots],
    }


@runs_router.post("/projects/{int:project_id}/runs", openapi_extra=IDEMPOTENCY_KEY_DOC,
                  response={201: RunOut, 200: RunOut, 400: ErrorOut, **NOT_FOUND, 409: ErrorOut, 422: UnprocessableOut})
def run_create(request, project_id: int, payload: RunIn):
    """Forecast and start a production run; the forecast is in the answer. A replay with the same
    Idempotency-Key returns the same run (200) instead of starting a second one."""
    key = _idempotency_key(request)
    project = selectors.project_get_for_user(user=request.auth, project_id=project_id)
    shots = None
    if payload.shot_ids is not None:
        shots = [selectors.shot_get_for_user(user=request.auth, shot_id=shot_id) for shot_id in payload.shot_ids]
        if any(shot.project_id != project.pk for shot in shots):
            raise HttpError(404, "No such shot in this project.")
    started = timezone.now()
    run = run_services.run_start(user=request.auth, project=project, mode=payload.mode, shots=shots,
                                 drafts_per_shot=payload.drafts_per_shot, idempotency_key=key)
    return Status(201 if run.created_at >= started else 200, _run_out(run))


@runs_router.get("/runs/{int:run_id}", response={200: RunOut, **NOT_FOUND})
def run_detail(request, run_id: int):
    return _run_out(selectors.run_get_for_user(user=request.auth, run_id=run_id))


def _run_control(action):
    def operation(request, run_id: int):
        run = selectors.run_get_for_user(user=request.auth, run_id=run_id)
        return _run_out(action(run=run))
    return operation


for _name, _action, _doc in (
    ("pause", run_services.run_pause, "Ask for nothing new; takes under way finish. Pausing a paused run is a no-op."),
    ("resume", run_services.run_resume, "Go on from where the run paused."),
    ("cancel", run_services.run_cancel, "Stop the run and its takes under way; their held credits come back."),
):
    _operation = _run_control(_action)
    _operation.__name__, _operation.__doc__ = f"run_{_name}", _doc
    runs_router.post(f"/runs/{{int:run_id}}/{_name}", response={200: RunOut, **NOT_FOUND, 409: ErrorOut})(_operation)


@runs_router.post("/run-shots/{int:run_shot_id}/approve", response={200: RunOut, **NOT_FOUND, 409: ErrorOut})
def run_shot_approve(request, run_shot_id: int):
    """Approve a shot's picked draft (review_drafts mode): its final is asked for now."""
    run_shot = selectors.run_shot_get_for_user(user=request.auth, run_shot_id=run_shot_id)
    run_services.run_shot_approve(run_shot=run_shot)
    return _run_out(run_shot.run)


routers = (projects_router, shots_router, takes_router, credits_router, runs_router, webhooks_router)
