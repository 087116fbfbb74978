from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "jobs.outbound"
    label = "outbound"
    verbose_name = "Outbound webhooks"
