"""Review through share links against the real database: who a link lets in (and who it does not),
comments (escaped, length-limited, rate-limited per link), decisions, the creator's replies and
the live events that carry them to the owner's open pages."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Take
from studio.models import ReviewComment, ReviewDecision, ShareLink
from studio.services.review import (
    review_comment_add,
    share_link_create,
    share_link_revoke,
    share_link_token,
)
from studio.services.takes import shot_take_request, take_reject
from studio.share_tokens import share_token_sign
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_made_ready

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ready_take(creator, shot):
    return take_made_ready(shot_take_request(user=creator, shot=shot, idempotency_key="review-take"))


@pytest.fixture
def link(creator, project):
    return share_link_create(user=creator, project=project, label="Client — Acme")


@pytest.fixture
def token(link):
    return share_link_token(link=link)


@pytest.fixture
def other_project(db):
    """Another creator's project, with a shot and a ready take a link to `project` must never reach."""
    owner = creator_create(username="mallory")
    project = project_for(owner, name="Secret heist")
    shot = shot_for(project, title="Vault door")
    take = take_made_ready(shot_take_request(user=owner, shot=shot, idempotency_key="other-take"))
    return project, shot, take


def reviewer(token: str, name: str = "Rosa") -> Client:
    """A browser with no account that opened the link and gave its name."""
    client = Client()
    assert client.post(reverse("review-name", args=[token]), {"name": name}).status_code == 302
    return client


def comment_url(token: str, shot_id: int) -> str:
    return reverse("review-comment", args=[token, shot_id])


def decision_url(token: str, take_id: int) -> str:
    return reverse("review-decision", args=[token, take_id])


# --- The access matrix -------------------------------------------------------------------------


def test_a_live_link_shows_the_project_its_takes_and_nothing_about_money(client, creator, project, shot, ready_take, token,
                                                                         other_project):
    response = client.get(reverse("review-page", args=[token]))

    assert response.status_code == 200
    html = response.content.decode()
    assert project.name in html and shot.title in html
    assert f'src="{ready_take.video.url}"' in html
    assert "Who is reviewing?" in html
    for hidden in ("credit", "Credit", "price", "Price", "/api/", "Log out", other_project[0].name, other_project[1].title,
                   "Render final", str(ready_take.price_credits) + " credits"):
        assert hidden not in html, hidden
    assert response["Referrer-Policy"] == "same-origin" and "no-store" in response["Cache-Control"]


def _refusals(token: str, project, shot, take) -> list[tuple[str, str, dict]]:
    return [
        ("get", reverse("review-page", args=[token]), {}),
        ("post", reverse("review-name", args=[token]), {"name": "Eve"}),
        ("post", comment_url(token, shot.pk), {"body": "hello"}),
        ("post", decision_url(token, take.pk), {"verdict": "approved"}),
    ]


def _assert_404_revealing_nothing(client: Client, token: str, project, shot, take):
    for method, url, data in _refusals(token, project, shot, take):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (url, response.status_code)
        body = response.content.decode()
        for secret in (project.name, shot.title, shot.subject, project.owner.username):
            assert secret not in body, (url, secret)


def test_expired_revoked_tampered_and_forged_links_answer_404_and_reveal_nothing(creator, project, shot, ready_take, link,
                                                                                  token):
    other = share_link_create(user=creator, project=project, label="Old client")
    ShareLink.objects.filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = share_link_revoke(link=share_link_create(user=creator, project=project, label="Former agency"))
    payload, signature = token.rsplit(":", 1)
    tampered = f"{payload}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"
    unsigned = link.public_id.hex
    wrong_salt = f"{payload}:{signature}x"
    forged_id = share_token_sign("00000000-0000-0000-0000-000000000000")  # signed, but no such link

    for bad in (share_link_token(link=other), share_link_token(link=revoked), tampered, unsigned, wrong_salt, forged_id,
                "x" * 300):
        _assert_404_revealing_nothing(Client(), bad, project, shot, ready_take)

    assert not ReviewComment.objects.exists() and not ReviewDecision.objects.filter(by_creator=False).exists()


def test_a_link_revoked_while_open_stops_working_at_once(creator, project, shot, ready_take, link, token):
    browser = reviewer(token)
    assert browser.post(comment_url(token, shot.pk), {"body": "First"}, **HTMX).status_code == 200

    share_link_revoke(link=link)

    _assert_404_revealing_nothing(browser, token, project, shot, ready_take)
    assert ReviewComment.objects.count() == 1


def test_a_link_opens_nothing_of_another_project(creator, project, shot, ready_take, token, other_project):
    _, their_shot, their_take = other_project
    browser = reviewer(token)

    assert browser.post(comment_url(token, their_shot.pk), {"body": "peek"}, **HTMX).status_code == 404
    assert browser.post(decision_url(token, their_take.pk), {"verdict": "approved"}, **HTMX).status_code == 404
    # A take of the other project named on a comment about this project's shot.
    response = browser.post(comment_url(token, shot.pk), {"body": "peek", "take": their_take.pk, "at_ms": 0}, **HTMX)
    assert response.status_code == 404
    assert their_shot.title.encode() not in response.content
    assert not ReviewComment.objects.exists() and not ReviewDecision.objects.filter(by_creator=False).exists()


def test_a_take_the_creator_rejected_or_that_is_not_ready_is_not_reviewable(creator, shot, ready_take, token):
    working = shot_take_request(user=creator, shot=shot, idempotency_key="still-rendering", fresh=True)  # no worker runs it
    take_reject(take=ready_take)
    browser = reviewer(token)

    page = browser.get(reverse("review-page", args=[token])).content.decode()
    assert f"review-take-{ready_take.pk}" not in page and f"review-take-{working.pk}" not in page
    for take in (ready_take, working):
        assert browser.post(decision_url(token, take.pk), {"verdict": "approved"}, **HTMX).status_code == 404


def test_a_reviewer_gets_nothing_from_the_api(token, project):
    browser = reviewer(token)

    for url in ("/api/projects", f"/api/projects/{project.pk}", "/api/credits"):
        response = browser.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401, url
        assert project.name.encode() not in response.content


def test_another_creator_cannot_see_or_change_a_projects_review(creator, project, shot, ready_take, link, token):
    comment = review_comment_add(link=link, reviewer_name="Rosa", shot=shot, body="Too dark")
    stranger = Client()
    stranger.force_login(creator_create(username="eve"))

    assert stranger.get(reverse("review-hub", args=[project.pk])).status_code == 404
    assert stranger.post(reverse("share-link-create", args=[project.pk]), {"label": "mine", "days": 3}).status_code == 404
    assert stranger.post(reverse("share-link-revoke", args=[link.pk])).status_code == 404
    assert stranger.post(reverse("review-reply", args=[comment.pk]), {"body": "hi"}).status_code == 404
    assert stranger.post(reverse("review-resolve", args=[comment.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None and ShareLink.objects.count() == 1
    assert ReviewComment.objects.count() == 1 and ReviewComment.objects.get().resolved_at is None


# --- Comments ----------------------------------------------------------------------------------


def test_a_comment_pinned_to_a_time_in_a_take(shot, ready_take, token, link):
    browser = reviewer(token, name="Rosa")

    response = browser.post(comment_url(token, shot.pk), {"body": "Hold longer here", "take": ready_take.pk, "at_ms": 1500},
                            **HTMX)

    assert response.status_code == 200
    comment = ReviewComment.objects.get()
    assert (comment.take_id, comment.at_ms, comment.author_name, comment.share_link_id, comment.by_creator) == (
        ready_take.pk, 1500, "Rosa", link.pk, False)
    html = response.content.decode()
    assert "Hold longer here" in html and ">0:02</button>" in html  # 1.5 s, to the nearest second


def test_comments_are_escaped(shot, token, creator, project):
    browser = reviewer(token, name="<b>Bob</b>")
    body = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    browser.post(comment_url(token, shot.pk), {"body": body}, **HTMX)

    for client_html in (browser.get(reverse("review-page", args=[token])).content.decode(),):
        assert "<script>alert" not in client_html and "<img src=x" not in client_html and "<b>Bob</b>" not in client_html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in client_html and "&lt;b&gt;Bob&lt;/b&gt;" in client_html
    owner = Client()
    owner.force_login(creator)
    hub = owner.get(reverse("review-hub", args=[project.pk])).content.decode()
    assert "<script>alert" not in hub and "&lt;script&gt;" in hub


@pytest.mark.parametrize(("data", "error"), [
    ({"body": "x" * 1001}, "at most 1000 characters"),
    ({"body": "   "}, "This field is required"),
    ({"body": "nul\x00char"}, "Null characters are not allowed"),
    ({"body": "late", "at_ms": 500}, "needs a take"),
])
def test_bad_comments_are_refused_with_a_clear_error_and_create_nothing(shot, ready_take, token, data, error):
    response = reviewer(token).post(comment_url(token, shot.pk), data, **HTMX)

    assert response.status_code == 422
    assert error in response.content.decode()
    assert not ReviewComment.objects.exists()


def test_a_time_past_the_end_of_the_take_is_refused(shot, ready_take, token):
    response = reviewer(token).post(comment_url(token, shot.pk), {"body": "after", "take": ready_take.pk,
                                                                 "at_ms": ready_take.duration_seconds * 1000 + 1}, **HTMX)

    assert response.status_code == 422 and "within the take" in response.content.decode()
    assert not ReviewComment.objects.exists()


def test_commenting_needs_a_name_first(shot, token):
    response = Client().post(comment_url(token, shot.pk), {"body": "anonymous"}, **HTMX)

    assert response.status_code == 422 and "Give your name first" in response.content.decode()
    assert not ReviewComment.objects.exists()


def test_comments_are_rate_limited_per_link(settings, creator, project, shot, token):
    settings.REVIEW_COMMENTS_PER_MINUTE = 3
    rosa, ben = reviewer(token, "Rosa"), reviewer(token, "Ben")  # two reviewers share the link's allowance
    other_token = share_link_token(link=share_link_create(user=creator, project=project, label="Agency"))

    statuses = [client.post(comment_url(token, shot.pk), {"body": f"note {n}"}, **HTMX).status_code
                for n, client in enumerate([rosa, ben, rosa, ben])]

    assert statuses == [200, 200, 200, 429]
    assert ReviewComment.objects.count() == 3
    # Another link has its own allowance; a minute later this one has its allowance back.
    assert reviewer(other_token).post(comment_url(other_token, shot.pk), {"body": "other"}, **HTMX).status_code == 200
    ReviewComment.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert rosa.post(comment_url(token, shot.pk), {"body": "later"}, **HTMX).status_code == 200


# --- Decisions ---------------------------------------------------------------------------------


def test_a_reviewer_requests_changes_and_the_creator_sees_who_decided_what_when(creator, project, shot, ready_take, token,
                                                                                 link):
    browser = reviewer(token, name="Rosa")

    response = browser.post(decision_url(token, ready_take.pk), {"verdict": "changes_requested"}, **HTMX)

    assert response.status_code == 200 and "Changes requested" in response.content.decode()
    decision = ReviewDecision.objects.get()
    assert (decision.decided_by, decision.verdict, decision.take_id, decision.share_link_id, decision.by_creator) == (
        "Rosa", "changes_requested", ready_take.pk, link.pk, False)
    assert len(decision.spec_hash) == 64
    ready_take.refresh_from_db()
    assert ready_take.review == Take.Review.PENDING  # a reviewer informs; only the creator approves for spending
    owner = Client()
    owner.force_login(creator)
    hub = owner.get(reverse("review-hub", args=[project.pk])).content.decode()
    row = re.search(rf'<li id="decision-{decision.pk}".*?</li>', hub, re.DOTALL).group(0)
    assert "Rosa" in row and "Changes requested" in row and "Client — Acme" in row and 'data-stale="false"' in row


def test_an_unknown_verdict_is_refused(shot, ready_take, token):
    response = reviewer(token).post(decision_url(token, ready_take.pk), {"verdict": "ship_it"}, **HTMX)

    assert response.status_code == 422 and not ReviewDecision.objects.exists()


# --- The creator's side ------------------------------------------------------------------------


def test_the_creator_creates_and_revokes_a_link(creator_client, project):
    response = creator_client.post(reverse("share-link-create", args=[project.pk]), {"label": "Client", "days": 3})
    assert response.status_code == 302
    link = ShareLink.objects.get()
    assert timedelta(days=2, hours=23) < link.expires_at - timezone.now() <= timedelta(days=3)
    hub = creator_client.get(reverse("review-hub", args=[project.pk])).content.decode()
    url = re.search(r'class="share-link-url" type="text" readonly value="([^"]+)"', hub).group(1)
    assert Client().get(url).status_code == 200

    creator_client.post(reverse("share-link-revoke", args=[link.pk]))

    assert Client().get(url).status_code == 404
    assert "Revoked" in creator_client.get(reverse("review-hub", args=[project.pk])).content.decode()


@pytest.mark.parametrize("days", ["0", "91", "x"])
def test_a_link_lives_one_to_ninety_days(creator_client, project, days):
    response = creator_client.post(reverse("share-link-create", args=[project.pk]), {"label": "Client", "days": days})

    assert response.status_code == 422 and not ShareLink.objects.exists()


def test_the_creator_replies_and_resolves(creator_client, shot, link, token):
    comment = review_comment_add(link=link, reviewer_name="Rosa", shot=shot, body="Too dark")

    response = creator_client.post(reverse("review-reply", args=[comment.pk]), {"body": "Brightening it"}, **HTMX)
    assert response.status_code == 200 and "Brightening it" in response.content.decode()
    creator_client.post(reverse("review-resolve", args=[comment.pk]), **HTMX)

    comment.refresh_from_db()
    reply = comment.replies.get()
    assert (reply.by_creator, reply.author_name, reply.parent_id) == (True, "ada", comment.pk)
    assert comment.resolved_at is not None
    page = Client().get(reverse("review-page", args=[token])).content.decode()  # the reviewer sees the answer
    assert "Brightening it" in page and "Resolved" in page


# --- Live events to the owner's pages -----------------------------------------------------------


def test_comments_and_decisions_reach_the_owners_open_pages(group_listener, django_capture_on_commit_callbacks, project,
                                                            shot, ready_take, token):
    listener = group_listener(project.notify_group)
    browser = reviewer(token, name="Rosa")

    with django_capture_on_commit_callbacks(execute=True):
        browser.post(comment_url(token, shot.pk), {"body": "Hold <here>", "take": ready_take.pk, "at_ms": 2000}, **HTMX)
        browser.post(decision_url(token, ready_take.pk), {"verdict": "changes_requested"}, **HTMX)

    events = listener.collect(2, timeout=5)
    assert [event["type"] for event in events] == ["live.html", "live.html"]
    thread, decision = events[0]["html"], events[1]["html"]
    assert 'data-live-upsert="#review-threads"' in thread and "Hold &lt;here&gt;" in thread and ">0:02<" in thread
    assert 'data-live-upsert="#review-decisions"' in decision and "Changes requested" in decision and "Rosa" in decision
    assert "credits" not in json.dumps(events)


# --- Admin -------------------------------------------------------------------------------------


def test_ops_see_links_comments_and_decisions_and_can_revoke_a_link(client, creator, shot, ready_take, link, token):
    from django.contrib.auth import get_user_model

    review_comment_add(link=link, reviewer_name="Rosa", shot=shot, take=ready_take, at_ms=1000, body="Too dark")
    reviewer(token).post(decision_url(token, ready_take.pk), {"verdict": "approved"}, **HTMX)
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-123"))
    for model in ("sharelink", "reviewcomment", "reviewdecision"):
        first = {"sharelink": ShareLink, "reviewcomment": ReviewComment, "reviewdecision": ReviewDecision}[model].objects.first()
        assert client.get(reverse(f"admin:studio_{model}_changelist"), {"q": "Rosa"}).status_code == 200
        assert client.get(reverse(f"admin:studio_{model}_change", args=[first.pk])).status_code == 200

    client.post(reverse("admin:studio_sharelink_changelist"), {"action": "revoke", "_selected_action": [link.pk]})

    link.refresh_from_db()
    assert link.revoked_at is not None
    assert Client().get(reverse("review-page", args=[token])).status_code == 404


def test_the_review_page_catches_up_on_reconnect_with_its_threads_and_decisions(creator_client, project, shot, ready_take,
                                                                                link, token, other_project):
    comment = review_comment_add(link=link, reviewer_name="Rosa", shot=shot, body="Too dark")
    reviewer(token).post(decision_url(token, ready_take.pk), {"verdict": "changes_requested"}, **HTMX)

    threads = creator_client.get(reverse("review-hub-part", args=[project.pk, "threads"]), **HTMX)
    decisions = creator_client.get(reverse("review-hub-part", args=[project.pk, "decisions"]), **HTMX)

    assert f'id="thread-{comment.pk}"' in threads.content.decode() and "<html" not in threads.content.decode()
    assert "Changes requested" in decisions.content.decode()
    assert creator_client.get(reverse("review-hub-part", args=[project.pk, "links"])).status_code == 404
    assert creator_client.get(reverse("review-hub-part", args=[other_project[0].pk, "threads"])).status_code == 404
