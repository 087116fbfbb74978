"""Stills cut from a take's stored video on demand."""

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from jobs.media import video_first_frame
from jobs.models import Take


def take_first_frame_stored(*, take: Take) -> str:
    """The storage name of the take's opening frame, extracted once; "" when its video is gone."""
    name = f"takes/{take.tier}/{take.public_id}/first-frame.png"
    if default_storage.exists(name):
        return name
    if not take.video or take.files_expired_at:
        return ""
    with take.video.open("rb") as handle:
        frame = video_first_frame(handle)
    buffer = io.BytesIO()
    frame.save(buffer, format="PNG")
    return default_storage.save(name, ContentFile(buffer.getvalue()))
