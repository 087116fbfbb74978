"""The account's webhooks page: endpoints, their secrets (shown once), the delivery log and resend.
Views parse input and call one jobs.outbound service."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from jobs.outbound import endpoints as outbound
from jobs.outbound.exceptions import OutboundError, WebhookUrlRefused
from jobs.outbound.kinds import EVENT_KINDS
from jobs.outbound.selectors import deliveries_for_endpoint, endpoints_for_user

DELIVERIES_PAGE_SIZE = 25


class EndpointForm(forms.Form):
    url = forms.URLField(label="Endpoint URL", max_length=500, assume_scheme="https",
                         help_text="Receives signed POSTs (Standard Webhooks). https on a public address.")
    events = forms.MultipleChoiceField(label="Events", widget=forms.CheckboxSelectMultiple,
                                       choices=[(kind, kind) for kind in EVENT_KINDS],
                                       help_text="Each payload has a type, a version and ids; never secrets.")
    description = forms.CharField(label="Description", max_length=200, required=False)


@login_required
@require_http_methods(["GET", "POST"])
def webhooks_page(request):
    form = EndpointForm(request.POST or None, initial={"events": [kind for kind in EVENT_KINDS if kind.startswith("take.")]})
    if request.method == "POST" and form.is_valid():
        try:
            created = outbound.webhook_endpoint_create(owner=request.user, url=form.cleaned_data["url"],
                                                       event_kinds=form.cleaned_data["events"],
                                                       description=form.cleaned_data["description"])
        except WebhookUrlRefused as refused:
            form.add_error("url", str(refused))
        except OutboundError as error:
            form.add_error(None, str(error))
        else:
            return _secret_page(request, created, "Endpoint added")
    return render(request, "studio/webhooks.html", {
        "form": form, "endpoints": endpoints_for_user(user=request.user), "kinds": EVENT_KINDS,
    }, status=422 if form.errors else 200)


def _secret_page(request, created: outbound.EndpointWithSecret, heading: str):
    """Rendered, never redirected to: the secret exists in this one response only."""
    response = render(request, "studio/webhook_secret.html", {"endpoint": created.endpoint, "secret": created.secret,
                                                               "heading": heading})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def webhook_detail(request, endpoint_id):
    endpoint = outbound.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    page = Paginator(deliveries_for_endpoint(endpoint=endpoint), DELIVERIES_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "studio/webhook_detail.html", {"endpoint": endpoint, "page": page})


@login_required
@require_POST
def webhook_secret_rotate(request, endpoint_id):
    endpoint = outbound.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    return _secret_page(request, outbound.webhook_endpoint_secret_rotate(endpoint=endpoint), "Secret rotated")


@login_required
@require_POST
def webhook_enabled_set(request, endpoint_id):
    endpoint = outbound.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    enabled = request.POST.get("enabled") == "1"
    outbound.webhook_endpoint_update(endpoint=endpoint, enabled=enabled)
    messages.success(request, "Endpoint enabled." if enabled else "Endpoint disabled.")
    return redirect("webhook-detail", endpoint_id=endpoint.public_id)


@login_required
@require_POST
def webhook_delete(request, endpoint_id):
    outbound.webhook_endpoint_delete(endpoint=outbound.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id))
    messages.success(request, "Endpoint removed.")
    return redirect("webhooks")


@login_required
@require_POST
def webhook_delivery_resend(request, delivery_id: int):
    delivery = outbound.delivery_get_for_user(user=request.user, delivery_id=delivery_id)
    try:
        outbound.webhook_delivery_resend(delivery=delivery)
        messages.success(request, "Delivery queued to be sent again.")
    except OutboundError as error:
        messages.error(request, str(error))
    return redirect("webhook-detail", endpoint_id=delivery.endpoint.public_id)
