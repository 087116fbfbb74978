"""The storyboard page, cheap to serve again: an ETag for conditional GETs, the page and its shot
cards cached as HTML.

All are derived from versions read in one small query (studio.selectors.storyboard_versions_for_user)
before anything is rendered: a change to anything the page shows (a take's state, progress or
review, a shot, a character, the budget, the credits in the header) changes them, so an unchanged
page answers 304 (or comes from the cache for a browser without it) and an unchanged card
comes from the cache when the page is rendered.
Keys go through Django's cache (KEY_PREFIX applies) and expire after STORYBOARD_CACHE_SECONDS.
A cache that is down is a cache miss: the page renders without it.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import redis.exceptions
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.safestring import SafeString, mark_safe

from studio.models import Project, Shot
from studio.selectors import StoryboardVersions, storyboard_card_shots
from studio.services.approvals import stale_approvals

logger = logging.getLogger(__name__)

SHOT_CARD = "studio/partials/shot_card.html"


@lru_cache(maxsize=1)
def templates_version() -> str:
    """A digest of the project's templates, read once per process: a deploy that changes how a
    page looks changes every key and ETag made from it."""
    digest = hashlib.sha256()
    for folder in (Path(name) for engine in settings.TEMPLATES for name in engine.get("DIRS", [])):
        for path in sorted(folder.rglob("*.html")):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _digest(*parts) -> str:
    return hashlib.sha256(repr((templates_version(), *parts)).encode()).hexdigest()[:32]


def storyboard_etag(request, *, versions: StoryboardVersions) -> str | None:
    """The page's ETag, or None when the page must be rendered anyway: a message is waiting to be
    shown once, or the browser has no CSRF cookie yet (the render sets one)."""
    csrf_secret = request.META.get("CSRF_COOKIE")
    if not csrf_secret or len(messages.get_messages(request)):
        return None
    user = request.user
    return f'"{_digest(user.pk, user.username, csrf_secret, _media_links_period(), versions.page, versions.shots)}"'


def shot_grid_etag(*, project_id: int, versions: StoryboardVersions) -> str:
    """The ETag of the storyboard's shot cards alone (the grid htmx re-fetches)."""
    return f'"{_digest("grid", project_id, _media_links_period(), versions.shots)}"'


def _media_links_period() -> int:
    """Signed media links (S3's) expire: a cached page may only be reused while its links work."""
    if not getattr(default_storage, "querystring_auth", False):
        return 0
    return int(time.time() // settings.STORYBOARD_CACHE_SECONDS)


def storyboard_not_modified(request, etag: str | None):
    """A 304 when the browser's copy carries this ETag, else None."""
    if etag is None:
        return None
    unchanged = get_conditional_response(request, etag=etag)
    return revalidated(unchanged, etag) if unchanged is not None else None


def revalidated(response, etag: str | None):
    """The page's validators: the ETag, and that browsers must ask again before reusing their copy."""
    if etag is not None:
        response["ETag"] = etag
        patch_cache_control(response, private=True, no_cache=True)
    return response


# Where a cached page's CSRF tokens go: each response gets a freshly masked token of the browser's
# own secret (the ETag, and so the page's key, includes that secret).
CSRF_PLACEHOLDER = "csrf-token-of-this-response"


def page_from_cache(request, *, etag: str | None, render_page: Callable[[dict], HttpResponse]) -> HttpResponse:
    """The page whose ETag this is, from the cache when it was rendered before; else
    `render_page(extra_context)` renders it (with the CSRF placeholder) and it is cached."""
    if etag is None:
        return render_page({})
    key = "storyboard-page:" + etag.strip('"')
    html = _cache_read([key]).get(key)
    if html is None:
        html = render_page({"csrf_token": CSRF_PLACEHOLDER}).content.decode()
        _cache_write({key: html})
    return HttpResponse(html.replace(CSRF_PLACEHOLDER, get_token(request)))


def shot_cards(*, project: Project, versions: list[tuple], characters: tuple = ()) -> list[SafeString]:
    """Every shot's storyboard card in order, from the cache where unchanged; the rest rendered
    (in one query for all of them, and five for whether their approvals are stale) and cached.
    `characters` (StoryboardVersions.characters) is in each card's key: a new reference image
    changes the spec of the shots that use it, and so whether their approvals are stale."""
    keys = [f"storyboard-card:{_digest(version, characters)}" for version in versions]
    cached = _cache_read(keys)
    missing = {version[0]: key for version, key in zip(versions, keys) if key not in cached}
    if missing:
        stale = stale_approvals(Shot.objects.filter(project=project))  # the whole storyboard: queries stay constant
        shots = list(storyboard_card_shots(project=project, shot_ids=missing))
        for shot in shots:
            shot.approval_stale = shot.pk in stale
        rendered = {missing[shot.pk]: render_to_string(SHOT_CARD, {"shot": shot}) for shot in shots}
        _cache_write(rendered)
        cached.update(rendered)
    return [mark_safe(cached[key]) for key in keys if key in cached]  # a shot deleted meanwhile has no card


def _cache_read(keys: list[str]) -> dict[str, str]:
    try:
        return cache.get_many(keys) if keys else {}
    except redis.exceptions.RedisError as error:
        logger.warning("storyboard not read from the cache: %s", error)
        return {}


def _cache_write(cards: dict[str, str]) -> None:
    try:
        cache.set_many(cards, timeout=settings.STORYBOARD_CACHE_SECONDS)
    except redis.exceptions.RedisError as error:
        logger.warning("storyboard not cached: %s", error)
