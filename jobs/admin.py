from django.contrib import admin
from django.shortcuts import render
from django.urls import path

from jobs.models import (
    Attempt,
    CreatorRanking,
    Take,
    TakeDecision,
    TakeEvent,
    WebhookDelivery,
)
from jobs.selectors import attempt_outcomes_by_model, decision_agreement_report
from providers.selectors import health_window_start, provider_health_rows


class TakeEventInline(admin.TabularInline):
    model = TakeEvent
    fields = ("created_at", "from_state", "to_state", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ("number", "provider_model", "provider_job_id", "state", "error_kind", "error_message", "polls", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Take)
class TakeAdmin(admin.ModelAdmin):
    """Takes are read-only here: every state change goes through the pipeline's services."""

    list_display = ("id", "shot", "owner", "tier", "state", "progress", "review", "provider_model", "price_credits", "sandbox", "created_at")
    list_filter = ("state", "tier", "review", "sandbox", "provider_model")
    search_fields = ("public_id", "owner__username", "shot__title", "compiled_prompt", "failure_reason")
    list_select_related = ("shot", "owner", "provider_model")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Take._meta.fields] + ["stage_durations", "media_work"]
    inlines = [AttemptInline, TakeEventInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Media work per stage")
    def media_work(self, take):
        return "; ".join(f"{stage}: {seconds['wall']:.2f} s wall, {seconds['cpu']:.2f} s CPU"
                         for stage, seconds in take.stage_seconds.items()) or "—"

    @admin.display(description="Time in each state")
    def stage_durations(self, take):
        events = list(take.events.all())
        rows = []
        for event, following in zip(events, events[1:]):
            rows.append(f"{event.to_state}: {(following.created_at - event.created_at).total_seconds():.2f} s")
        return "; ".join(rows) or "—"


@admin.register(TakeEvent)
class TakeEventAdmin(admin.ModelAdmin):
    """The append-only state history of every take."""

    list_display = ("created_at", "take", "from_state", "to_state", "detail")
    list_filter = ("to_state", "from_state")
    search_fields = ("take__public_id", "detail")
    list_select_related = ("take",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyModelAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyModelAdmin):
    list_display = ("take", "number", "provider_model", "state", "error_kind", "polls", "created_at", "finished_at")
    list_filter = ("state", "error_kind", "provider_model")
    search_fields = ("provider_job_id", "take__public_id", "error_message")
    list_select_related = ("take", "provider_model")
    date_hierarchy = "created_at"

    def get_urls(self):
        health = self.admin_site.admin_view(self.provider_health_view)
        return [path("provider-health/", health, name="provider_health"), *super().get_urls()]

    def provider_health_view(self, request):
        """Circuit state, recent success rate and latency of every provider model."""
        rows = provider_health_rows(attempts_by_model=attempt_outcomes_by_model(since=health_window_start(hours=24)))
        context = {**self.admin_site.each_context(request), "title": "Provider health (last 24 hours)", "rows": rows,
                   "opts": self.model._meta}
        return render(request, "admin/jobs/provider_health.html", context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "api_family", "event_id", "take")
    list_filter = ("api_family",)
    search_fields = ("event_id", "take__public_id")
    list_select_related = ("take",)


@admin.register(TakeDecision)
class TakeDecisionAdmin(ReadOnlyModelAdmin):
    """Creators' approve/reject decisions with the evaluation they were made on; the agreement
    report (link above the list) compares them with the gates and the score."""

    list_display = ("created_at", "take", "owner", "decision", "outcome", "aggregate")
    list_filter = ("decision", "outcome")
    search_fields = ("take__public_id", "owner__username")
    list_select_related = ("take", "owner")
    date_hierarchy = "created_at"

    def get_urls(self):
        report = self.admin_site.admin_view(self.agreement_view)
        return [path("agreement/", report, name="jobs_takedecision_agreement"), *super().get_urls()]

    def agreement_view(self, request):
        """Per gate: creators rejecting what it passed, approving what it failed; the score's ROC AUC."""
        context = {**self.admin_site.each_context(request), "title": "Gate and score agreement with creators",
                   "report": decision_agreement_report(), "opts": self.model._meta}  # fmt: skip
        return render(request, "admin/jobs/decision_agreement.html", context)


@admin.register(CreatorRanking)
class CreatorRankingAdmin(ReadOnlyModelAdmin):
    list_display = ("owner", "decisions", "intercept", "fitted_at")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "features", "coefficients", "intercept", "decisions", "fitted_at")
