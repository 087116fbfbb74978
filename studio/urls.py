from django.contrib.auth import views as auth_views
from django.urls import path

from studio.views import accounts, projects, review, sharing, shots, takes

urlpatterns = [
    path("signup/", accounts.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", projects.project_list, name="project-list"),
    path("projects/new/", projects.project_create_view, name="project-create"),
    path("projects/<int:project_id>/", projects.project_detail, name="project-detail"),
    path("projects/<int:project_id>/shots/", projects.project_shots, name="project-shots"),
    path("projects/<int:project_id>/drafts/", projects.storyboard_drafts, name="storyboard-drafts"),
    path("projects/<int:project_id>/drafts/request/", projects.storyboard_drafts_request, name="storyboard-drafts-request"),
    path("projects/<int:project_id>/budget/", projects.project_budget_view, name="project-budget"),
    path("projects/<int:project_id>/characters/", projects.character_create_view, name="character-create"),
    path("projects/<int:project_id>/characters/<int:character_id>/images/", projects.character_image_add_view,
         name="character-image-add"),
    path("projects/<int:project_id>/shots/new/", shots.shot_create_view, name="shot-create"),
    path("shots/<int:shot_id>/", shots.shot_detail, name="shot-detail"),
    path("shots/<int:shot_id>/takes/", takes.take_create, name="take-create"),
    path("shots/<int:shot_id>/takes/best-of/", takes.take_best_of_create, name="take-best-of"),
    path("shots/<int:shot_id>/takes/list/", shots.shot_takes_view, name="shot-takes"),
    path("takes/<int:take_id>/approve/", takes.take_approve_view, name="take-approve"),
    path("takes/<int:take_id>/reject/", takes.take_reject_view, name="take-reject"),
    path("takes/<int:take_id>/cancel/", takes.take_cancel_view, name="take-cancel"),
    path("takes/<int:take_id>/final/", takes.take_final_view, name="take-final"),
    path("takes/<int:take_id>/other-provider/", takes.take_other_provider_view, name="take-other-provider"),
    # Review: the creator's side, then the reviewer's (through a signed share link, no account).
    path("projects/<int:project_id>/review/", sharing.review_hub, name="review-hub"),
    path("projects/<int:project_id>/review/parts/<slug:part>/", sharing.review_hub_part, name="review-hub-part"),
    path("projects/<int:project_id>/review/links/", sharing.share_link_create_view, name="share-link-create"),
    path("review-links/<int:link_id>/revoke/", sharing.share_link_revoke_view, name="share-link-revoke"),
    path("review-comments/<int:comment_id>/reply/", sharing.review_reply_view, name="review-reply"),
    path("review-comments/<int:comment_id>/resolve/", sharing.review_resolve_view, name="review-resolve"),
    path("review/<str:token>/", review.review_page, name="review-page"),
    path("review/<str:token>/name/", review.review_name_set, name="review-name"),
    path("review/<str:token>/shots/<int:shot_id>/comments/", review.review_comment_post, name="review-comment"),
    path("review/<str:token>/takes/<int:take_id>/decision/", review.review_decision_post, name="review-decision"),
]
