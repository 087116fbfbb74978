from django.contrib import admin

from studio.models import CharacterImage, CharacterReference, Project, Shot


class ShotInline(admin.TabularInline):
    model = Shot
    fields = ("position", "title", "camera", "duration_seconds", "aspect_ratio", "approved_take")
    raw_id_fields = ("approved_take",)
    extra = 0
    show_change_link = True


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at", "updated_at")
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


@admin.register(CharacterReference)
class CharacterReferenceAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_at")
    search_fields = ("name", "project__name")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    inlines = [CharacterImageInline]
