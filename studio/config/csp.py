"""The Content-Security-Policy header on every response (Django 5.2 has no CSP of its own).

The policies themselves are settings (CONTENT_SECURITY_POLICY, and a looser one for the API docs),
built in one place from the storage and payment settings they depend on.
"""

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

API_DOCS_VIEW = "api:openapi-view"


def policy_header(policy: dict[str, list[str]]) -> str:
    """{"default-src": ["'self'"], "img-src": ["'self'", "data:"]} → "default-src 'self'; img-src 'self' data:"."""
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class ContentSecurityPolicy(MiddlewareMixin):
    def process_response(self, request, response):
        if settings.DEBUG and response.status_code == 500:
            return response  # Django's debug page is inline styles and scripts; it never shows in production
        response.setdefault("Content-Security-Policy", policy_header(_policy_for(request)))
        return response


def _policy_for(request) -> dict[str, list[str]]:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name == API_DOCS_VIEW:
        return settings.CONTENT_SECURITY_POLICY_API_DOCS
    return settings.CONTENT_SECURITY_POLICY
