class StudioError(Exception):
    """A creator action that cannot be done; the message is safe to show."""
