from django.apps import AppConfig


class CutsConfig(AppConfig):
    name = "studio.cuts"
    label = "cuts"
    verbose_name = "Cuts"
    default_auto_field = "django.db.models.BigAutoField"
