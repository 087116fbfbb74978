"""The JSON API: one NinjaAPI, routers from the apps, domain errors turned into HTTP here."""

from ninja import NinjaAPI

api = NinjaAPI(title="Shotcraft API", version="1", docs_url="/docs", urls_namespace="api")
