from django.contrib import admin

from studio.models import CharacterImage, CharacterReference, ProductionRun, Project, RunEvent, RunShot, Shot


class ShotInline(admin.TabularInline):
    model = Shot
    fields = ("position", "title", "camera", "duration_seconds", "aspect_ratio", "approved_take")
    raw_id_fields = ("approved_take",)
    extra = 0
    show_change_link = True


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "score_threshold", "created_at", "updated_at")
    list_filter = ("created_at",)
    search_fields = ("name", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    inlines = [ShotInline]


@admin.register(Shot)
class ShotAdmin(admin.ModelAdmin):
    list_display = ("title", "project", "position", "camera", "duration_seconds", "aspect_ratio", "approved_take")
    list_filter = ("camera", "aspect_ratio")
    search_fields = ("title", "subject", "project__name")
    list_select_related = ("project",)
    raw_id_fields = ("project", "approved_take")
    filter_horizontal = ("characters",)


class CharacterImageInline(admin.TabularInline):
    model = CharacterImage
    fields = ("image", "width", "height", "format", "sha256")
    readonly_fields = ("width", "height", "format", "sha256")
    extra = 0


@admin.register(CharacterImage)
class CharacterImageAdmin(admin.ModelAdmin):
    list_display = ("character", "width", "height", "format", "sha256", "created_at")
    list_filter = ("format",)
    search_fields = ("character__name", "sha256")
    list_select_related = ("character",)
    readonly_fields = ("width", "height", "format", "sha256")


@admin.register(CharacterReference)
class CharacterReferenceAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_at")
    search_fields = ("name", "project__name")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    inlines = [CharacterImageInline]


# API tokens (imports kept with the section so it can be appended without touching the header).
from studio.models import ApiToken  # noqa: E402
from studio.services.tokens import api_token_revoke  # noqa: E402


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `manage.py api_token_create`; the key itself is never stored, so never shown."""

    list_display = ("name", "user", "key_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "key_prefix", "user__username", "user__email")
    list_select_related = ("user",)
    fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("studio.change_apitoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(queryset)} token(s); requests using them now get 401.", "success")


class RunShotInline(admin.TabularInline):
    model = RunShot
    fields = ("position", "shot", "state", "round", "picked_take", "final_take", "reason")
    readonly_fields = fields  # states change only through studio.services.runs.transitions
    extra = 0
    can_delete = False


class RunEventInline(admin.TabularInline):
    model = RunEvent
    fields = ("created_at", "run_shot", "from_state", "to_state", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ProductionRun)
class ProductionRunAdmin(admin.ModelAdmin):
    """Read-only for ops: a run's state, forecast, shots and history (controls live on the storyboard and the API)."""

    list_display = ("pk", "project", "owner", "mode", "state", "created_at", "heartbeat_at", "finished_at")
    list_filter = ("state", "mode")
    search_fields = ("project__name", "owner__username")
    list_select_related = ("project", "owner")
    readonly_fields = ("public_id", "project", "owner", "mode", "state", "drafts_per_shot", "retry_rounds",
                       "score_threshold", "forecast", "stop_reason", "idempotency_key", "heartbeat_at", "created_at",
                       "finished_at")
    inlines = [RunShotInline, RunEventInline]

    def has_add_permission(self, request):
        return False


# Review through share links (imports kept with the section, like the tokens').
from studio.models import ReviewComment, ReviewDecision, ShareLink  # noqa: E402
from studio.services.review import share_link_revoke  # noqa: E402


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Links are made by creators on their project's review page; ops can see and revoke them."""

    list_display = ("label", "project", "created_by", "created_at", "expires_at", "revoked_at", "state")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "expires_at")
    search_fields = ("label", "project__name", "created_by__username", "public_id")
    list_select_related = ("project", "created_by")
    fields = ("project", "label", "public_id", "created_by", "created_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("studio.change_sharelink")

    @admin.action(description="Revoke selected links", permissions=["revoke"])
    def revoke(self, request, queryset):
        for link in queryset:
            share_link_revoke(link=link)
        self.message_user(request, f"Revoked {len(queryset)} link(s); they now answer 404.", "success")

    def has_add_permission(self, request):
        return False


@admin.register(RunShot)
class RunShotAdmin(admin.ModelAdmin):
    list_display = ("pk", "run", "shot", "state", "round", "picked_take", "final_take")
    list_filter = ("state",)
    search_fields = ("shot__title", "reason")
    list_select_related = ("run", "shot")
    readonly_fields = ("run", "shot", "position", "state", "round", "picked_take", "final_take", "reason")

    def has_add_permission(self, request):
        return False


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    """A run's history, append-only."""

    list_display = ("created_at", "run", "run_shot", "from_state", "to_state", "detail")
    list_filter = ("to_state",)
    search_fields = ("detail",)
    readonly_fields = ("run", "run_shot", "from_state", "to_state", "detail", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReviewComment)
class ReviewCommentAdmin(admin.ModelAdmin):
    list_display = ("author_name", "project", "shot", "take", "at_ms", "by_creator", "share_link", "created_at", "resolved_at")
    list_filter = ("by_creator", ("resolved_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("author_name", "body", "project__name", "shot__title")
    list_select_related = ("project", "shot", "share_link")
    raw_id_fields = ("project", "shot", "take", "parent", "share_link")
    readonly_fields = ("created_at",)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """The record of who approved or asked for changes, and against which spec: never edited."""

    list_display = ("decided_by", "verdict", "project", "shot", "take", "by_creator", "share_link", "created_at")
    list_filter = ("verdict", "by_creator", "created_at")
    search_fields = ("decided_by", "project__name", "shot__title", "spec_hash")
    list_select_related = ("project", "shot", "share_link")
    readonly_fields = ("project", "shot", "take", "verdict", "spec_hash", "share_link", "decided_by", "by_creator", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
