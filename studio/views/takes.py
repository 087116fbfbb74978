"""Asking for a take, and the creator's review of it."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from billing.exceptions import BillingError
from jobs.exceptions import TakeError
from jobs.services.cancel import TakeNotCancellable, take_cancel
from studio.exceptions import StudioError
from studio.forms import TakeRequestForm
from studio.models import Shot
from studio.selectors import shot_get_for_user, take_get_for_user
from studio.services.takes import shot_take_quote, shot_take_request, take_approve, take_reject


def generate_panel_context(*, shot: Shot, error: str = "") -> dict:
    """The price of a draft of the saved shot, and a fresh idempotency key for the Generate button."""
    try:
        quote, quote_error = shot_take_quote(shot=shot), ""
    except TakeError as failure:
        quote, quote_error = None, str(failure)
    return {"shot": shot, "quote": quote, "quote_error": quote_error, "error": error,
            "idempotency_key": uuid.uuid4()}


def _message(error: Exception) -> str:
    return " ".join(error.messages) if isinstance(error, ValidationError) else str(error)


@login_required
@require_POST
def take_create(request, shot_id: int):
    shot = shot_get_for_user(user=request.user, shot_id=shot_id)
    form = TakeRequestForm(request.POST)
    key = form.cleaned_data["idempotency_key"] if form.is_valid() else ""
    try:
        take = shot_take_request(user=request.user, shot=shot, idempotency_key=key or None)
    except (BillingError, TakeError, ValidationError) as error:
        if not request.htmx:
            messages.error(request, _message(error))
            return redirect("shot-detail", shot_id=shot.pk)
        context = generate_panel_context(shot=shot, error=_message(error))
        return render(request, "studio/shot_detail.html#generate-panel", context, status=422)
    if not request.htmx:
        messages.success(request, f"Draft take requested: {take.price_credits} credits reserved.")
        return redirect("shot-detail", shot_id=shot.pk)
    context = {**generate_panel_context(shot=shot), "take": take}
    return render(request, "studio/partials/take_created.html", context)


def _review_response(request, take, *, error: str, done: str):
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect("shot-detail", shot_id=take.shot_id)
    return render(request, "studio/partials/take_card.html", {"take": take, "error": error},
                  status=422 if error else 200)


@login_required
@require_POST
def take_approve_view(request, take_id: int):
    take = take_get_for_user(user=request.user, take_id=take_id)
    try:
        take, error = take_approve(take=take), ""
    except StudioError as failure:
        error = str(failure)
    return _review_response(request, take, error=error, done="Take approved: it is now the shot's take on the storyboard.")


@login_required
@require_POST
def take_reject_view(request, take_id: int):
    take = take_get_for_user(user=request.user, take_id=take_id)
    try:
        take, error = take_reject(take=take), ""
    except StudioError as failure:
        error = str(failure)
    return _review_response(request, take, error=error, done="Take rejected.")


@login_required
@require_POST
def take_cancel_view(request, take_id: int):
    take = take_get_for_user(user=request.user, take_id=take_id)
    try:
        take, error = take_cancel(take_id=take.pk), ""
    except TakeNotCancellable as failure:
        error = str(failure)
    take = take_get_for_user(user=request.user, take_id=take.pk)
    return _review_response(request, take, error=error, done="Take cancelled: its credits are back.")
