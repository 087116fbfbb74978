class OutboundError(Exception):
    """A webhook request that cannot be carried out; the message is safe to show the creator."""


class WebhookUrlRefused(OutboundError):
    """The endpoint URL breaks the outbound network policy (scheme, private address, credentials)."""
