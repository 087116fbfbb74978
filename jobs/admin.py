from django.contrib import admin

from jobs.models import Generation, GenerationEvent


class GenerationEventInline(admin.TabularInline):
    model = GenerationEvent
    fields = ("created_at", "from_state", "to_state", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    """Takes are read-only here: every state change goes through the pipeline's services."""

    list_display = ("id", "shot", "owner", "tier", "state", "progress", "review", "provider_model", "price_credits", "created_at")
    list_filter = ("state", "tier", "review", "provider_model")
    search_fields = ("public_id", "owner__username", "shot__title", "compiled_prompt", "failure_reason")
    list_select_related = ("shot", "owner", "provider_model")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Generation._meta.fields] + ["stage_durations"]
    inlines = [GenerationEventInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Time in each state")
    def stage_durations(self, take):
        events = list(take.events.all())
        rows = []
        for event, following in zip(events, events[1:]):
            rows.append(f"{event.to_state}: {(following.created_at - event.created_at).total_seconds():.2f} s")
        return "; ".join(rows) or "—"


@admin.register(GenerationEvent)
class GenerationEventAdmin(admin.ModelAdmin):
    """The append-only state history of every take."""

    list_display = ("created_at", "generation", "from_state", "to_state", "detail")
    list_filter = ("to_state", "from_state")
    search_fields = ("generation__public_id", "detail")
    list_select_related = ("generation",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
