"""A sample project to learn Shotcraft with: three shots of a night market and one character with a
reference portrait. The demo creator gets it (manage.py demo_seed), and any creator can add it to
their own projects from the empty project list.

Everything goes through the same services the product uses; what already exists is kept.
"""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image, ImageDraw, ImageFilter

from studio.models import CharacterReference, Project
from studio.services.images import character_image_add
from studio.services.projects import character_create, project_create, shot_create

PROJECT_NAME = "Neon Night Market"
PROJECT_DESCRIPTION = "A 12-second teaser: a courier's run through a rain-soaked night market."
CHARACTER_NAME = "Mei"
CHARACTER_DESCRIPTION = "Street-food courier, early twenties, black bob with bangs, yellow raincoat, silver hoops."
# The sandbox vendors' clips score about 30-55 on the gate (a synthetic picture, no prompt model),
# so at the usual threshold of 60 a first production run in `make run` would hand every shot back
# instead of escalating. Raise it in the project's settings once real vendors render.
SAMPLE_SCORE_THRESHOLD = 30
STYLE = "cinematic, anamorphic 35mm, teal and magenta neon, shallow depth of field, light rain"
SHOTS = [
    {
        "title": "Mei arrives", "camera": "dolly_in", "duration_seconds": 5, "with_character": True,
        "subject": "Mei, a young courier in a yellow raincoat, carries a steaming paper bag through the crowd",
        "scene": "A packed night-market lane after rain, neon signs mirrored in the puddles",
        "motion": "Beat 1: she steps out of the crowd. Beat 2: she glances up at a flickering sign. "
                  "Beat 3: steam curls from the bag.",
        "negative": "watermark, garbled text, extra fingers, distorted face",
    },
    {
        "title": "Lantern stall", "camera": "pan_right", "duration_seconds": 4, "with_character": False,
        "subject": "A grill stall strung with red paper lanterns, skewers sizzling over charcoal",
        "scene": "Under a dripping tarp canopy beside the main lane, late at night",
        "motion": "Flames flare as fat drips; the lanterns sway; sparks drift upward into the rain.",
        "negative": "watermark, logo, people looking at the camera",
    },
    {
        "title": "Market from above", "camera": "tilt_down", "duration_seconds": 3, "with_character": False,
        "subject": "The whole market from a rooftop, umbrellas flowing along the lane like a river of colour",
        "scene": "Past midnight, city towers glowing behind low cloud",
        "motion": "The view tilts from the skyline down to the lane; a train crosses in the distance.",
        "negative": "watermark, daylight, empty streets",
    },
]


@transaction.atomic
def sample_project_ensure(*, owner) -> Project:
    """The owner's sample project, created on first use and completed when a part is missing, so
    a second click (or a second demo_seed) adds nothing."""
    project = Project.objects.filter(owner=owner, name=PROJECT_NAME).first()
    if project is None:
        project = project_create(owner=owner, name=PROJECT_NAME, description=PROJECT_DESCRIPTION)
        project.score_threshold = SAMPLE_SCORE_THRESHOLD
        project.save(update_fields=["score_threshold"])
    mei = sample_character_ensure(project=project)
    existing = set(project.shots.values_list("title", flat=True))
    for spec in SHOTS:
        if spec["title"] in existing:
            continue
        fields = {key: value for key, value in spec.items() if key != "with_character"}
        shot_create(project=project, characters=[mei] if spec["with_character"] else [], style=STYLE,
                    aspect_ratio="16:9", **fields)
    return project


def sample_character_ensure(*, project: Project) -> CharacterReference:
    character = project.characters.filter(name=CHARACTER_NAME).first()
    if character is None:
        character = character_create(project=project, name=CHARACTER_NAME, description=CHARACTER_DESCRIPTION)
    if not character.images.exists():
        upload = SimpleUploadedFile("mei.png", portrait_png(), content_type="image/png")
        character_image_add(character=character, upload=upload)
    return character


# ---------------------------------------------------------------- Mei's reference portrait


def portrait_png(width: int = 768, height: int = 1024) -> bytes:
    """An illustrated head-and-shoulders portrait under neon light (deterministic)."""
    image = _night_gradient(width, height)
    image.alpha_composite(_bokeh(width, height))
    _draw_figure(ImageDraw.Draw(image), width, height)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _night_gradient(width: int, height: int) -> Image.Image:
    top, bottom = (18, 16, 52), (120, 28, 110)
    column = Image.new("RGBA", (1, height))
    for y in range(height):
        t = y / (height - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)) + (255,))
    return column.resize((width, height))


def _bokeh(width: int, height: int) -> Image.Image:
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    lights = [(0.12, 0.18, (0, 230, 255)), (0.85, 0.12, (255, 60, 160)), (0.78, 0.42, (255, 200, 60)),
              (0.08, 0.55, (255, 60, 160)), (0.92, 0.68, (0, 230, 255)), (0.25, 0.08, (255, 120, 40))]
    for fx, fy, colour in lights:
        x, y, r = fx * width, fy * height, width * 0.07
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour + (150,))
    return layer.filter(ImageFilter.GaussianBlur(width * 0.03))


def _draw_figure(draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
    skin, hair, coat = (236, 196, 170), (20, 16, 24), (242, 196, 32)
    draw.rectangle((w * 0.43, h * 0.58, w * 0.57, h * 0.76), fill=(220, 178, 152))  # neck
    draw.ellipse((w * 0.08, h * 0.72, w * 0.92, h * 1.25), fill=coat)  # shoulders in a yellow raincoat
    draw.polygon([(w * 0.42, h * 0.72), (w * 0.50, h * 0.84), (w * 0.58, h * 0.72)], fill=(220, 178, 152))
    draw.ellipse((w * 0.26, h * 0.16, w * 0.74, h * 0.66), fill=hair)  # bob, behind the face
    draw.ellipse((w * 0.32, h * 0.24, w * 0.68, h * 0.66), fill=skin)  # face
    draw.chord((w * 0.30, h * 0.17, w * 0.70, h * 0.42), 180, 360, fill=hair)  # bangs
    draw.arc((w * 0.29, h * 0.22, w * 0.71, h * 0.68), 300, 60, fill=(0, 230, 255), width=6)  # cyan rim light
    for cx in (0.43, 0.57):
        draw.ellipse((w * (cx - 0.03), h * 0.44, w * (cx + 0.03), h * 0.47), fill=(40, 30, 40))  # eyes
    draw.arc((w * 0.45, h * 0.53, w * 0.55, h * 0.59), 20, 160, fill=(170, 70, 80), width=4)  # smile
    for cx in (0.31, 0.69):
        draw.ellipse((w * (cx - 0.02), h * 0.50, w * (cx + 0.02), h * 0.55), outline=(220, 220, 230), width=4)
