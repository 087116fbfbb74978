from django.contrib import admin

from studio.cuts.models import Cut, CutEntry, CutRender


class CutEntryInline(admin.TabularInline):
    model = CutEntry
    fields = ("position", "included", "shot", "take", "take_pinned", "in_ms", "out_ms", "transition", "transition_ms", "line")
    raw_id_fields = ("shot", "take")
    extra = 0


@admin.register(Cut)
class CutAdmin(admin.ModelAdmin):
    list_display = ("project", "aspect_ratio", "resolution", "fps", "music", "loudness_lufs", "updated_at")
    raw_id_fields = ("project",)
    inlines = [CutEntryInline]


@admin.register(CutRender)
class CutRenderAdmin(admin.ModelAdmin):
    """Renders are made by the worker; ops read them (state, failure, inputs) and may delete one to force a re-render."""

    list_display = ("cut", "state", "progress", "frames", "inputs_hash", "created_at", "finished_at")
    list_filter = ("state",)
    readonly_fields = ("cut", "inputs_hash", "inputs", "state", "progress", "video", "provenance", "frames",
                       "failure_reason", "created_at", "finished_at")
    search_fields = ("inputs_hash", "cut__project__name")

    def has_add_permission(self, request):
        return False


@admin.register(CutEntry)
class CutEntryAdmin(admin.ModelAdmin):
    list_display = ("cut", "position", "included", "shot", "take", "take_pinned", "in_ms", "out_ms", "transition")
    list_filter = ("included", "take_pinned")
    raw_id_fields = ("cut", "shot", "take")
    search_fields = ("shot__title", "cut__project__name")
