"""The model is called what everything else calls it: a take."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_take_export"),
    ]

    operations = [
        migrations.RenameModel("Generation", "Take"),
        migrations.RenameModel("GenerationEvent", "TakeEvent"),
        # SQLite rebuilds the table on a rename: the constraint naming the old field goes first.
        migrations.RemoveConstraint("attempt", "attempt_number_unique_per_take"),
        migrations.AlterModelOptions("attempt", options={"ordering": ["generation", "number"]}),
        migrations.RenameField("takeevent", "generation", "take"),
        migrations.RenameField("attempt", "generation", "take"),
        migrations.RenameField("webhookdelivery", "generation", "take"),
        migrations.AlterModelOptions("attempt", options={"ordering": ["take", "number"]}),
        migrations.AddConstraint(
            "attempt", models.UniqueConstraint(fields=("take", "number"), name="attempt_number_unique_per_take"),
        ),
    ]
