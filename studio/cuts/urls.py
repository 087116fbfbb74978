from django.urls import path

from studio.cuts import views

urlpatterns = [
    path("projects/<int:project_id>/cut/", views.cut_page, name="cut-page"),
    path("projects/<int:project_id>/cut/format/", views.cut_format_save, name="cut-format"),
    path("projects/<int:project_id>/cut/shots/<int:entry_id>/", views.cut_entry_save, name="cut-entry"),
    path("projects/<int:project_id>/cut/render/", views.cut_render_view, name="cut-render"),
    path("projects/<int:project_id>/cut/render/status/", views.cut_render_status, name="cut-render-status"),
    path("projects/<int:project_id>/cut/renders/<int:render_id>/cut.mp4", views.cut_download, name="cut-download"),
    path("projects/<int:project_id>/cut/timeline.<str:fmt>", views.cut_timeline_download, name="cut-timeline"),
    path("projects/<int:project_id>/cut/media.zip", views.cut_media_bundle, name="cut-media-bundle"),
    path("projects/<int:project_id>/cut/import/", views.cut_timeline_import, name="cut-import"),
]
