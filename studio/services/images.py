"""Reference image uploads: checked as real images within limits, then re-encoded."""

import hashlib
import io

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.models import CharacterImage, CharacterReference

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")


def reference_image_read(upload) -> Image.Image:
    """Open an upload as a JPEG, PNG or WebP within our size and pixel limits, or raise ValidationError."""
    max_bytes = settings.REFERENCE_IMAGE_MAX_BYTES
    if upload.size > max_bytes:
        raise ValidationError(f"The image is {upload.size / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB.")
    upload.seek(0)
    try:
        with Image.open(upload, formats=ACCEPTED_FORMATS) as probe:
            pixels = probe.width * probe.height
            if pixels > settings.REFERENCE_IMAGE_MAX_PIXELS:
                raise ValidationError(
                    f"The image is {probe.width}×{probe.height}; the limit is "
                    f"{settings.REFERENCE_IMAGE_MAX_PIXELS / 1_000_000:.0f} megapixels."
                )
            probe.verify()
        upload.seek(0)
        image = Image.open(upload, formats=ACCEPTED_FORMATS)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValidationError("That file is not a JPEG, PNG or WebP image we can read.") from None
    return ImageOps.exif_transpose(image)


def _reencode(image: Image.Image) -> tuple[bytes, str]:
    """Re-encoding drops metadata and anything smuggled beside the pixels."""
    has_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
    buffer = io.BytesIO()
    if has_alpha:
        image.convert("RGBA").save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), "PNG"
    image.convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue(), "JPEG"


@transaction.atomic
def character_image_add(*, character: CharacterReference, upload) -> CharacterImage:
    image = reference_image_read(upload)
    data, image_format = _reencode(image)
    digest = hashlib.sha256(data).hexdigest()
    existing = character.images.filter(sha256=digest).first()
    if existing:
        return existing
    picture = CharacterImage(character=character, format=image_format, sha256=digest, width=image.width, height=image.height)
    picture.image.save(f"{digest}.{image_format.lower()}", ContentFile(data), save=False)
    picture.save()
    return picture
