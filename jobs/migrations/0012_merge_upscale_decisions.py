from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0011_take_origin_upscale"),
        ("jobs", "0010_take_decisions_and_learned_ranking"),
    ]
    operations = []
