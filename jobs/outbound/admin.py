"""Ops views: endpoints (never their secrets), the outbox, deliveries with their attempt log."""

from django.contrib import admin, messages

from jobs.outbound.endpoints import webhook_delivery_resend, webhook_endpoint_update
from jobs.outbound.exceptions import OutboundError
from jobs.outbound.models import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "owner", "enabled", "failing_since", "disabled_reason", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "owner__username", "owner__email")
    readonly_fields = ("public_id", "owner", "failing_since", "previous_secret_until", "created_at", "updated_at")
    fields = ("public_id", "owner", "url", "description", "event_kinds", "enabled", "disabled_reason",
              "failing_since", "previous_secret_until", "created_at", "updated_at")
    actions = ["endpoints_enable"]

    @admin.action(description="Enable again (clears the failure streak)")
    def endpoints_enable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, enabled=True)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "status_code", "error", "response_excerpt", "duration_ms", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "endpoint", "state", "attempts", "last_status_code", "next_attempt_at", "delivered_at")
    list_filter = ("state", "event__kind")
    search_fields = ("endpoint__url", "event__public_id")
    list_select_related = ("event", "endpoint")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    actions = ["deliveries_resend"]

    @admin.action(description="Resend now")
    def deliveries_resend(self, request, queryset):
        for delivery in queryset:
            try:
                webhook_delivery_resend(delivery=delivery)
            except OutboundError as error:
                self.message_user(request, f"{delivery}: {error}", messages.WARNING)

    def has_add_permission(self, request):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("kind", "public_id", "owner", "created_at")
    list_filter = ("kind",)
    search_fields = ("public_id", "owner__username")
    readonly_fields = ("public_id", "owner", "kind", "payload", "created_at")

    def has_add_permission(self, request):
        return False
