from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0012_merge_upscale_decisions"),
        ("jobs", "0010_take_animatic_tier"),
    ]
    operations = []
