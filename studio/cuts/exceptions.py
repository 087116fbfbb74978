"""What can stop a cut, each saying what to fix. The API answers them as 409/422 (studio.config.api)."""

from studio.exceptions import StudioError


class CutError(StudioError):
    """A cut cannot be rendered or changed as asked."""


class CutNotReady(CutError):
    """A shot has no approved take, or a take's file is missing."""


class CutTrimInvalid(CutError):
    """A trim falls outside its take, or leaves too little of it."""


class CutMediaUnreadable(CutError):
    """A take's file is there but cannot be decoded."""


class CutLineTooLong(CutError):
    """A voice-over line needs more time than its shot has."""


class TimelineInvalid(CutError):
    """An imported timeline cannot be read, or names media that is not in the cut's project."""
