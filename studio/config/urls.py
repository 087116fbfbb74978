from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path, re_path

from jobs.media_urls import provider_media
from jobs.webhooks import provider_callback, provider_family_callback
from studio.config.api import api
from studio.config.media import signed_media
from studio.observability.metrics import metrics
from studio.observability.readiness import readyz

handler400 = "studio.config.error_pages.bad_request"

def healthz(request):
    """Liveness for load balancers; also the plain baseline view the benchmark compares against."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("readyz/", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("webhooks/<slug:family>/<uuid:public_id>/<str:token>/", provider_callback, name="provider-callback"),
    path("webhooks/<slug:family>/", provider_family_callback, name="provider-family-callback"),
    path("provider-media/<str:token>/", provider_media, name="provider-media"),
    path("credits/", include("billing.urls")),
    path("", include("studio.cuts.urls")),
    path("", include("studio.urls")),
]

if settings.SERVE_MEDIA:  # local media, through signed, expiring links only (studio/config/media.py)
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", signed_media, {"document_root": settings.MEDIA_ROOT})]
