from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0004_animatic_tier"),
        ("providers", "0004_provider_video_upscale"),
    ]
    operations = []
