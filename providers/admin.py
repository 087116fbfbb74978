from django.contrib import admin

from providers.models import ProviderModel, ProviderPrice
from providers.registry import api_family_status


class ProviderPriceInline(admin.TabularInline):
    model = ProviderPrice
    fields = ("valid_from", "usd_micros_per_second", "resolution", "with_audio", "source")
    extra = 0


@admin.register(ProviderModel)
class ProviderModelAdmin(admin.ModelAdmin):
    list_display = ("name", "vendor", "api_family", "tier", "enabled", "status", "max_duration_seconds", "p50_latency_seconds")
    change_list_template = "admin/providers/providermodel/change_list.html"
    list_filter = ("tier", "enabled", "vendor", "api_family", "native_audio", "image_to_video", "video_upscale")
    search_fields = ("slug", "name", "vendor")
    list_editable = ("enabled",)
    inlines = [ProviderPriceInline]

    @admin.display(description="Status")
    def status(self, provider_model):
        return api_family_status(provider_model.api_family)


@admin.register(ProviderPrice)
class ProviderPriceAdmin(admin.ModelAdmin):
    list_display = ("provider_model", "usd_micros_per_second", "resolution", "with_audio", "valid_from")
    list_filter = ("provider_model__vendor", "with_audio")
    search_fields = ("provider_model__slug", "provider_model__name")
    list_select_related = ("provider_model",)
