"""Asking for a take, and the creator's review of it."""

import uuid
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from billing.exceptions import BillingError, BudgetExceeded, InsufficientCredits
from billing.services import credits_reserve_check
from jobs.exceptions import TakeError
from jobs.models import Take
from jobs.pipeline.request import BEST_OF_MAX
from jobs.pipeline.settle import TakeNotCancellable, take_cancel
from studio.exceptions import StudioError
from studio.forms import BestOfForm, TakeRequestForm
from studio.models import Shot
from studio.selectors import shot_get_for_user, take_get_for_user
from studio.services.takes import (
    shot_take_quote,
    shot_take_request,
    shot_takes_request_best_of,
    take_approve,
    take_other_provider_quote,
    take_reject,
    take_render_final,
    take_render_final_quote,
    take_request_other_provider,
    take_upscale,
    take_upscale_quote,
)


def generate_panel_context(*, shot: Shot, error: str = "") -> dict:
    """The price of a draft of the saved shot (free when it reuses a stored take), best-of-N
    prices, and a fresh idempotency key for each button."""
    try:
        quote, quote_error = shot_take_quote(shot=shot), ""
    except TakeError as failure:
        quote, quote_error = None, str(failure)
    best_of = [(count, count * quote.credits, count * quote.hold_credits) for count in range(2, BEST_OF_MAX + 1)] if quote else []
    try:
        animatic_quote = shot_take_quote(shot=shot, tier=Take.Tier.ANIMATIC)
    except TakeError:
        animatic_quote = None
    return {"shot": shot, "quote": quote, "quote_error": quote_error, "error": error, "best_of_options": best_of,
            "animatic_quote": animatic_quote, "animatic_key": uuid.uuid4(),
            "blocked": _new_render_blocked(shot, quote), "idempotency_key": uuid.uuid4(), "best_of_key": uuid.uuid4()}


def _new_render_blocked(shot: Shot, quote) -> str:
    """Why the creator's credits, plan or project budget would refuse a new draft now; "" if none."""
    if quote is None:
        return ""
    try:
        credits_reserve_check(user_id=shot.project.owner_id, amount=quote.hold_credits, budget_key=shot.project.budget_key)
    except InsufficientCredits as refusal:
        return (f"Not enough credits: this draft needs {refusal.needed} and you have {refusal.available} available. "
                "Shorten the shot or add credits to generate it.")
    except BudgetExceeded as refusal:
        return f"{refusal} The budget is set on the storyboard page."
    except BillingError as refusal:
        return str(refusal)
    return ""


def _message(error: Exception) -> str:
    return " ".join(error.messages) if isinstance(error, ValidationError) else str(error)


REQUEST_ERRORS = (BillingError, TakeError, StudioError, ValidationError)


def _generate_failed(request, shot: Shot, error: str):
    if not request.htmx:
        messages.error(request, error)
        return redirect("shot-detail", shot_id=shot.pk)
    return render(request, "studio/shot_detail.html#generate-panel", generate_panel_context(shot=shot, error=error),
                  status=422)


def _generate_answer(request, shot: Shot, requested: Callable[[], list[Take]], *, done: str):
    """Run a take request from the generate panel and answer with the panel and the new cards."""
    try:
        takes = requested()
    except REQUEST_ERRORS as error:
        return _generate_failed(request, shot, _message(error))
    if not request.htmx:
        messages.success(request, done.format(credits=sum(take.price_credits for take in takes), count=len(takes)))
        return redirect("shot-detail", shot_id=shot.pk)
    return render(request, "studio/partials/take_created.html", {**generate_panel_context(shot=shot), "takes": takes})


@login_required
@require_POST
def take_create(request, shot_id: int):
    shot = shot_get_for_user(user=request.user, shot_id=shot_id)
    form = TakeRequestForm(request.POST)
    form.is_valid()  # every field is optional; a malformed key is simply not used
    key, fresh = form.cleaned_data.get("idempotency_key") or None, form.cleaned_data.get("fresh", False)
    tier = form.cleaned_data.get("tier") or Take.Tier.DRAFT
    return _generate_answer(
        request, shot,
        lambda: [shot_take_request(user=request.user, shot=shot, idempotency_key=key, fresh=fresh, tier=tier)],
        done=f"{Take.Tier(tier).label} take requested: {{credits}} credits reserved.",
    )


@login_required
@require_POST
def take_best_of_create(request, shot_id: int):
    shot = shot_get_for_user(user=request.user, shot_id=shot_id)
    form = BestOfForm(request.POST)
    if not form.is_valid():
        return _generate_failed(request, shot, " ".join(message for errors in form.errors.values() for message in errors))
    return _generate_answer(
        request, shot,
        lambda: shot_takes_request_best_of(user=request.user, shot=shot, count=form.cleaned_data["count"], fresh=True,
                                           idempotency_key=form.cleaned_data["idempotency_key"] or None),
        done="{count} draft takes requested: {credits} credits reserved. The best scoring one will be marked.",
    )


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


# Follow-ups of one take: render an approved draft as a final, upscale an approved final, or try
# another provider after a content-policy refusal. GET shows the price and asks to confirm; POST
# requests the new take.

FOLLOW_UPS = {
    "final": {"quote": take_render_final_quote, "request": take_render_final, "source": "draft", "url": "take-final",
              "title": "Render final", "done": "Final take #{take} requested: {credits} credits reserved."},
    "upscale": {"quote": take_upscale_quote, "request": take_upscale, "source": "final", "url": "take-upscale",
                "title": "Upscale", "done": "Upscale take #{take} requested on {provider}: {credits} credits reserved."},
    "other_provider": {"quote": take_other_provider_quote, "request": take_request_other_provider, "source": "take", "url": "take-other-provider",
                       "title": "Try another provider", "done": "Take #{take} requested on {provider}: {credits} credits reserved."},
}


def _follow_up_view(request, take_id: int, kind: str):
    follow_up = FOLLOW_UPS[kind]
    take = take_get_for_user(user=request.user, take_id=take_id)
    context = {"take": take, "kind": kind, "title": follow_up["title"], "idempotency_key": uuid.uuid4(),
               "action": reverse(follow_up["url"], args=[take.pk])}
    if request.method == "POST":
        form = TakeRequestForm(request.POST)
        form.is_valid()
        try:
            new_take = follow_up["request"](user=request.user, idempotency_key=form.cleaned_data.get("idempotency_key") or None,
                                            **{follow_up["source"]: take})
        except REQUEST_ERRORS as error:
            context["error"] = _message(error)
        else:
            done = follow_up["done"].format(take=new_take.pk, credits=new_take.price_credits, provider=new_take.provider_model.name)
            if not request.htmx:
                messages.success(request, done)
                return redirect("shot-detail", shot_id=take.shot_id)
            return render(request, "studio/partials/take_follow_up_done.html", {"take": take, "new_take": new_take, "done": done})
    try:
        context["quote"] = follow_up["quote"](**{follow_up["source"]: take})
    except REQUEST_ERRORS as error:
        context.setdefault("error", _message(error))
    template = "studio/partials/take_follow_up.html" if request.htmx else "studio/take_follow_up.html"
    return render(request, template, context, status=422 if "error" in context else 200)


@login_required
@require_http_methods(["GET", "POST"])
def take_final_view(request, take_id: int):
    return _follow_up_view(request, take_id, "final")


@login_required
@require_http_methods(["GET", "POST"])
def take_upscale_view(request, take_id: int):
    return _follow_up_view(request, take_id, "upscale")


@login_required
@require_http_methods(["GET", "POST"])
def take_other_provider_view(request, take_id: int):
    return _follow_up_view(request, take_id, "other_provider")
