from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0004_production_runs"),
        ("studio", "0004_share_links_and_review"),
    ]
    operations = []
