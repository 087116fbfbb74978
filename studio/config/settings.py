"""The one settings module. Everything environment-specific comes from env variables.

Defaults give a working development setup (SQLite, local media, Redis from REDIS_URL, which
`make run` provides). With DJANGO_ENV=production the app refuses to start on unsafe settings.
"""

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from studio.config.env import database_from_url, env_bool, env_int, env_list, env_str
from studio.observability.logs import logging_config, structlog_configure

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DJANGO_ENV = env_str("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
# Static files from the source folders (development), or collected and served by whitenoise (see STORAGES).
SERVE_STATIC = env_bool("SERVE_STATIC", default=not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY")

if PRODUCTION:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production")
elif not SECRET_KEY:
    SECRET_KEY = "development-only-insecure-key-never-used-in-production"
# Earlier keys, still accepted: sessions, signed links and sealed webhook secrets made under them
# keep working through a rotation (`manage.py webhook_secrets_reseal` moves the secrets over).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "ninja",  # only for its bundled Swagger UI files: the API docs then load nothing from a CDN
    "template_partials",
    "django_htmx",
    "studio",
    "studio.cuts",
    "jobs",
    "jobs.outbound",
    "providers",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    *([] if SERVE_STATIC else ["whitenoise.middleware.WhiteNoiseMiddleware"]),  # collected static files
    "studio.config.csp.ContentSecurityPolicy",
    "studio.config.api.DjangoAnswersAsApiErrors",
    "studio.config.outages.DependencyDownPages",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "studio.observability.logs.RequestContext",  # request_id and user_id on every line of the request
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "studio.config.urls"
ASGI_APPLICATION = "studio.config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studio.context_processors.credit_balance",
            ],
        },
    }
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'shotcraft.sqlite3'}"
DATABASES = {"default": database_from_url(DATABASE_URL)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A generous timeout: the worker and the web process write to the same file. Write-ahead logging
    # lets readers read while one process writes, and commits without a sync each (safe on a crash
    # of the app; the last commits may be lost only if the machine itself loses power).
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
# PostgreSQL connections come from a pool of at most DATABASE_POOL_MAX_SIZE per process, taken
# for a request or task and given back after it. (Under daphne every concurrent request runs in a
# thread of its own: persistent per-thread connections left one process holding dozens, and the
# server refused the rest.) Beyond the pool a request waits up to DATABASE_POOL_TIMEOUT_SECONDS,
# then answers 503 (studio/config/database.py). 0 turns the pool off, e.g. behind PgBouncer.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 10)
DATABASE_POOL_TIMEOUT_SECONDS = env_int("DATABASE_POOL_TIMEOUT_SECONDS", 10)
if DATABASES["default"]["ENGINE"].endswith("postgresql") and DATABASE_POOL_MAX_SIZE > 0:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
        "max_idle": 60,  # connections opened for a burst close after a quiet minute
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis backs the Celery broker, the Channels layer and the cache. `make run` starts an
# embedded Redis and sets REDIS_URL when none is configured.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

# Keys share CHANNELS_PREFIX, so two apps (or a test run beside `make run`) on one Redis never collide.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                      "KEY_PREFIX": env_str("CHANNELS_PREFIX", "asgi")}}
# Storyboard shot cards are cached as HTML, keyed by what they show, for this long; keep it below
# the lifetime of signed media links (an hour for S3's) since the cards carry their thumbnails' URLs.
STORYBOARD_CACHE_SECONDS = env_int("STORYBOARD_CACHE_SECONDS", 300)
# The layer waits for a socket's next event in 5 s blocking reads (BZPOPMIN, channels_redis's
# brpop_timeout). redis-py 8 gives every connection a 5 s read timeout by default, which fires
# first and kills each idle websocket with 1011; the read timeout must outlast the blocking read.
CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS = 15
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS}],
                   "prefix": env_str("CHANNELS_PREFIX", "asgi")},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND")  # only the benchmark needs results
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE_PREFIX", "") + "pipeline"
# Stored takes are evaluated on a queue of their own, so a slow evaluation never holds up submissions.
EVALUATION_QUEUE = env_str("CELERY_QUEUE_PREFIX", "") + "evaluation"
CELERY_TASK_ROUTES = {"jobs.take_evaluate": {"queue": EVALUATION_QUEUE}}
# The animatic renders on a queue of its own (any worker may consume it; see the Procfile).
LOCAL_RENDER_QUEUE = env_str("CELERY_QUEUE_PREFIX", "") + "render"
# A stage's worker holds a take for this long at a time, renewing while it works: a worker that
# dies frees its takes this soon (jobs/pipeline/leases.py).
TAKE_LEASE_SECONDS = env_int("TAKE_LEASE_SECONDS", 15)
# How long a stage's task may take to start before recovery sends it again.
TAKE_HANDOVER_SECONDS = env_int("TAKE_HANDOVER_SECONDS", 10)
# How often beat runs recovery (jobs/pipeline/recover.py), in seconds.
TAKE_RECOVERY_INTERVAL_SECONDS = env_int("TAKE_RECOVERY_INTERVAL_SECONDS", 5)
# The renderer of live take cards: jobs publishes, the studio renders (jobs/events.py).
LIVE_TAKE_RENDERER = "studio.live.take_changed_messages"
# Names a take:<id> credits-history line by its shot and take (billing imports no sibling app).
LEDGER_REFERENCE_DESCRIBER = "studio.ledger_references.ledger_references_describe"
# Outbound webhooks go out from a queue (and worker) of their own: a slow endpoint never holds
# a pipeline worker (jobs/outbound/).
WEBHOOK_QUEUE = env_str("CELERY_QUEUE_PREFIX", "") + "webhooks"
CELERY_TASK_ROUTES["outbound.*"] = {"queue": WEBHOOK_QUEUE}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULE = {
    "recover-takes": {"task": "jobs.takes_recover", "schedule": float(TAKE_RECOVERY_INTERVAL_SECONDS)},
    "expire-old-drafts": {"task": "jobs.takes_expire_drafts", "schedule": 6 * 3600.0},
    "sweep-local-renders": {"task": "providers.local_renders_sweep", "schedule": 6 * 3600.0},
    # Production runs move on from what their takes say; this is also their reconciliation.
    "advance-production-runs": {"task": "studio.production_runs_advance", "schedule": float(TAKE_RECOVERY_INTERVAL_SECONDS)},
    "dispatch-webhook-deliveries": {"task": "outbound.webhook_deliveries_dispatch",
                                    "schedule": float(env_int("WEBHOOK_DISPATCH_INTERVAL_SECONDS", 10))},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# Outside production the app serves static files from the source folders (SERVE_STATIC, above); in
# production whitenoise serves the collected, hashed and compressed copies (STATIC_ROOT, filled by
# `collectstatic` in the Procfile's release step). Local media (no S3) is always served by the
# app, through signed, expiring links only (studio/config/media.py), as S3's presigned links are.
SERVE_MEDIA = not env_str("AWS_STORAGE_BUCKET_NAME")

# Local files by default; S3 (or any S3-compatible store) when AWS_STORAGE_BUCKET_NAME is set.
if env_str("AWS_STORAGE_BUCKET_NAME"):
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL"),
            "region_name": env_str("AWS_S3_REGION_NAME"),
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {
        "BACKEND": "studio.config.media.SignedFileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if SERVE_STATIC
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Uploads: Django spools anything bigger than this to disk; our validators cap the rest.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
REFERENCE_IMAGE_MAX_BYTES = env_int("REFERENCE_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
REFERENCE_IMAGE_MAX_PIXELS = env_int("REFERENCE_IMAGE_MAX_PIXELS", 40_000_000)

# Billing: what one credit is worth, the markup over provider cost, and what new creators get.
try:
    CREDIT_VALUE_USD_DECIMAL = Decimal(env_str("CREDIT_VALUE_USD", "0.01"))
    CREDIT_MARKUP_DECIMAL = Decimal(env_str("CREDIT_MARKUP", "3"))  # seeds: "3x markup on blended cost"
except InvalidOperation:
    raise ImproperlyConfigured("CREDIT_VALUE_USD and CREDIT_MARKUP must be decimal numbers") from None
if CREDIT_VALUE_USD_DECIMAL <= 0 or CREDIT_MARKUP_DECIMAL <= 0:
    raise ImproperlyConfigured("CREDIT_VALUE_USD and CREDIT_MARKUP must be positive")
MINIMUM_CHARGE_CREDITS = env_int("MINIMUM_CHARGE_CREDITS", 1)
STARTER_CREDITS = env_int("STARTER_CREDITS", 500)

# Review links: how long a new share link lives by default (at most the maximum), and how many
# comments one link may post per minute (all its reviewers together).
SHARE_LINK_DAYS = env_int("SHARE_LINK_DAYS", 14)
SHARE_LINK_MAX_DAYS = env_int("SHARE_LINK_MAX_DAYS", 90)
REVIEW_COMMENTS_PER_MINUTE = env_int("REVIEW_COMMENTS_PER_MINUTE", 10)

# Providers. A family is configured when its credentials are set; without them its models show
# as "not configured" and are never used. PROVIDER_SANDBOX_URLS (JSON, family → emulator URL)
# points families at the local emulators instead: `make run` sets it in sandbox mode.
PROVIDER_SETTINGS = {
    "runway": {"api_key": env_str("RUNWAYML_API_SECRET"), "base_url": env_str("RUNWAYML_BASE_URL", "https://api.dev.runwayml.com")},
    "fal": {"api_key": env_str("FAL_KEY"), "base_url": env_str("FAL_QUEUE_URL", "https://queue.fal.run"),
            "jwks_url": env_str("FAL_JWKS_URL", "https://rest.fal.ai/.well-known/jwks.json")},
    "openai_videos": {"api_key": env_str("OPENAI_API_KEY"), "base_url": env_str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                      "webhook_secret": env_str("OPENAI_WEBHOOK_SECRET")},
    "google_veo": {"api_key": env_str("GEMINI_API_KEY"), "base_url": env_str("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com")},
    "google_vertex": {"access_token": env_str("VERTEX_ACCESS_TOKEN"), "project": env_str("VERTEX_PROJECT"),
                      "location": env_str("VERTEX_LOCATION", "us-central1"), "base_url": env_str("VERTEX_BASE_URL")},
    "luma": {"api_key": env_str("LUMAAI_API_KEY"), "base_url": env_str("LUMA_BASE_URL", "https://api.lumalabs.ai/dream-machine/v1")},
    "minimax": {"api_key": env_str("MINIMAX_API_KEY"), "base_url": env_str("MINIMAX_BASE_URL", "https://api.minimax.io")},
    "replicate": {"api_key": env_str("REPLICATE_API_TOKEN"), "base_url": env_str("REPLICATE_BASE_URL", "https://api.replicate.com/v1"),
                  "webhook_secret": env_str("REPLICATE_WEBHOOK_SECRET")},
    "kling": {"access_key": env_str("KLING_ACCESS_KEY"), "secret_key": env_str("KLING_SECRET_KEY"),
              "base_url": env_str("KLING_BASE_URL", "https://api-singapore.klingai.com")},
    # Audio for the cut (voice-over and music bed): providers/audio/elevenlabs.py
    "elevenlabs": {"api_key": env_str("ELEVENLABS_API_KEY"), "base_url": env_str("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")},
}
try:
    PROVIDER_SANDBOX_URLS = json.loads(env_str("PROVIDER_SANDBOX_URLS", "{}"))
except json.JSONDecodeError:
    raise ImproperlyConfigured("PROVIDER_SANDBOX_URLS must be a JSON object of family → URL") from None
if PRODUCTION and PROVIDER_SANDBOX_URLS:
    raise ImproperlyConfigured("Sandbox providers cannot be used when DJANGO_ENV=production")
SELF_HOSTED_MODEL_DIR = env_str("SELF_HOSTED_MODEL_DIR")  # one sub-folder per pipeline kind: wan, ltx, …
SELF_HOSTED_QUEUE = env_str("CELERY_QUEUE_PREFIX", "") + "selfhosted"  # its own worker: models hold the GPU
SELF_HOSTED_STEPS = env_int("SELF_HOSTED_STEPS", 30)
SELF_HOSTED_FPS = env_int("SELF_HOSTED_FPS", 8)
# Optional overrides of the model's own frame size and count (small GPUs, tests with tiny models).
SELF_HOSTED_FRAME_OVERRIDES = {
    name: env_int(f"SELF_HOSTED_{name.upper()}", 0) for name in ("width", "height", "num_frames")
    if env_int(f"SELF_HOSTED_{name.upper()}", 0)
}
# Where vendors send callbacks: this app's public address.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
if PRODUCTION and (not env_str("PUBLIC_BASE_URL") or not PUBLIC_BASE_URL.startswith("https://")):
    raise ImproperlyConfigured("PUBLIC_BASE_URL must be set to this app's https:// address when DJANGO_ENV=production "
                               "(vendors send callbacks there)")

# Outputs: drafts are deleted after DRAFT_RETENTION_DAYS (finals are kept); finals export with a
# C2PA manifest when a signing certificate and key are configured, else with a JSON sidecar.
DRAFT_RETENTION_DAYS = env_int("DRAFT_RETENTION_DAYS", 30)
C2PA_SIGNING_CERT_PATH = env_str("C2PA_SIGNING_CERT_PATH")
C2PA_SIGNING_KEY_PATH = env_str("C2PA_SIGNING_KEY_PATH")
PROVIDER_DOWNLOAD_MAX_SECONDS = env_int("PROVIDER_DOWNLOAD_MAX_SECONDS", 300)

# Evaluation: a CLIP model folder (transformers CLIPModel, loaded offline) turns on prompt
# alignment and character consistency; without it those metrics are reported unavailable.
CLIP_MODEL_DIR = env_str("CLIP_MODEL_DIR")
try:
    EVALUATION_WEIGHTS = {name: float(weight) for name, weight in json.loads(env_str("EVALUATION_WEIGHTS", "{}")).items()}
except (json.JSONDecodeError, AttributeError, ValueError):
    raise ImproperlyConfigured('EVALUATION_WEIGHTS must be a JSON object of metric → weight, e.g. {"sharpness": 0.2}') from None
# Per-label safety thresholds on top of the calibrated ones (jobs/evaluation/safety.py), as JSON
# {label: [review score, block score]}; a listed label becomes unsafe at those scores.
try:
    EVALUATION_SAFETY_THRESHOLDS = {label: (float(review), float(block)) for label, (review, block)
                                    in json.loads(env_str("EVALUATION_SAFETY_THRESHOLDS", "{}")).items()}
except (json.JSONDecodeError, AttributeError, ValueError, TypeError):
    raise ImproperlyConfigured('EVALUATION_SAFETY_THRESHOLDS must be a JSON object of label → [review, block], '
                               'e.g. {"BUTTOCKS_EXPOSED": [0.5, 0.8]}') from None
# Once a creator has made this many approve/reject decisions (both kinds among them), a model fitted
# on them ranks their best-of-N takes ("ranked by what you approved"); below it the default weights rank.
EVALUATION_LEARNED_RANKING_MIN_DECISIONS = env_int("EVALUATION_LEARNED_RANKING_MIN_DECISIONS", 12)
# A take failing a hard check is regenerated (new seed, or the next provider) at most this often in a row.
TAKE_REGENERATIONS = env_int("TAKE_REGENERATIONS", 2)
# Drafts go to the cheapest AI model whose catalog quality (0-100) is at least this, so a draft
# predicts its final; 0 lets the local animatic stand in for drafts where no AI model is configured.
DRAFT_QUALITY_FLOOR = env_int("DRAFT_QUALITY_FLOOR", 60)
# Drafts and finals go to the model cheapest per accepted take by our own results (jobs.outcomes),
# still trying the others now and then; off, they follow the catalog (cheapest draft, best final).
LEARNED_ROUTING = env_bool("LEARNED_ROUTING", True)
# What a final must score to count as accepted when routing learns: a final is what ships, so a
# cheaper model that merely clears the project's review threshold must not win the final tier.
FINAL_ACCEPTED_SCORE = env_int("FINAL_ACCEPTED_SCORE", 85)

# The local animatic renderer's frame rate and the longest take it accepts.
ANIMATIC_FPS = env_int("ANIMATIC_FPS", 24)
TAKE_STALL_SECONDS = env_int("TAKE_STALL_SECONDS", 600)
# Recovery restarts a take's stage at most this often per state before giving the take up.
TAKE_RECOVERIES_MAX = env_int("TAKE_RECOVERIES_MAX", 3)
# A take waiting for a busy provider (rate limit, concurrency cap) gives up after this long.
TAKE_THROTTLED_MAX_SECONDS = env_int("TAKE_THROTTLED_MAX_SECONDS", 1800)
# A provider's job may run this long (or 5 × the model's p90 latency, if longer) before we stop waiting.
TAKE_GENERATING_MAX_SECONDS = env_int("TAKE_GENERATING_MAX_SECONDS", 1800)

# Outbound webhooks (jobs/outbound/): retried with exponential backoff and jitter for
# WEBHOOK_RETRY_WINDOW_SECONDS, then dead-lettered; an endpoint failing for
# WEBHOOK_DISABLE_AFTER_SECONDS is disabled and its creator told. Answers are read for
# WEBHOOK_TIMEOUT_SECONDS and WEBHOOK_RESPONSE_MAX_BYTES at most. A rotated secret keeps signing
# beside the new one for WEBHOOK_SECRET_OVERLAP_SECONDS. WEBHOOK_ALLOW_PRIVATE_HOSTS (comma list)
# may name hosts allowed plain http and private addresses; unset: loopback outside production, none in it.
WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 3 * 24 * 3600)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 10)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 6 * 3600)
WEBHOOK_RETRY_COUNTDOWN_MAX_SECONDS = 300  # longer waits are sent by the beat dispatcher
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 24 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_LEASE_GRACE_SECONDS = env_int("WEBHOOK_LEASE_GRACE_SECONDS", 30)
WEBHOOK_RESPONSE_MAX_BYTES = env_int("WEBHOOK_RESPONSE_MAX_BYTES", 64 * 1024)
WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("WEBHOOK_SECRET_OVERLAP_SECONDS", 24 * 3600)
if env_str("WEBHOOK_ALLOW_PRIVATE_HOSTS") is not None:
    WEBHOOK_ALLOW_PRIVATE_HOSTS = env_list("WEBHOOK_ALLOW_PRIVATE_HOSTS", [])
# Mail (a disabled webhook endpoint's owner is told): SMTP in production (EMAIL_HOST, …), the
# console elsewhere; EMAIL_BACKEND overrides either.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION
                        else "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH")  # for the file backend
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Shotcraft <noreply@shotcraft.local>")
# billing imports no sibling app; it tells creators' endpoints about credits through this function.
BILLING_EVENT_RECORDER = "jobs.outbound.record.billing_event_record"

# Logs go through structlog (studio/observability/logs.py): JSON lines in production, readable
# text elsewhere (LOG_FORMAT=json|text), with request_id, user_id, task_id and take_id bound.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text")
LOGGING = logging_config(json_lines=LOG_FORMAT == "json", level=env_str("LOG_LEVEL", "INFO"))
structlog_configure()
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING too

# Prometheus metrics at /metrics (studio/observability/metrics.py): a bearer METRICS_TOKEN is
# required when set; without one, /metrics is off in production. Windowed figures cover this long.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_WINDOW_SECONDS = env_int("METRICS_WINDOW_SECONDS", 3600)

# Sentry, when SENTRY_DSN is set: errors of web requests and Celery tasks.
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from studio.observability.errors import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=DJANGO_ENV, release=env_str("SENTRY_RELEASE"),
                traces_sample_rate=float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0") or 0))

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading is a commitment browsers keep for months, for the whole domain: its owner opts in
    # (SECURE_HSTS_PRELOAD=1, with SECURE_HSTS_SECONDS of a year); until then check --deploy's
    # reminder is silenced on purpose.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# ---------------------------------------------------------------------------------------------
# Billing: plans, refunds, purchases (billing app). Plans and credit packs are rows edited in the
# admin; these are the switches and credentials around them.
# ---------------------------------------------------------------------------------------------
BILLING_LOW_BALANCE_CREDITS = env_int("BILLING_LOW_BALANCE_CREDITS", 100)  # warn below this many available
BILLING_REFUND_BROKEN_OUTPUTS = env_bool("BILLING_REFUND_BROKEN_OUTPUTS", True)  # refund technically broken outputs
# Stripe Checkout for credit packs: purchases switch on when both secrets are set. STRIPE_API_BASE
# points the official library at the local emulator (billing/stripe_emulator.py) in development.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # empty = Stripe's own https://api.stripe.com
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
# A clearly labelled "test checkout" that adds credits without payment, through the same
# fulfilment service. Never available in production.
BILLING_TEST_CHECKOUT = env_bool("BILLING_TEST_CHECKOUT", default=not PRODUCTION)
if PRODUCTION and BILLING_TEST_CHECKOUT:
    raise ImproperlyConfigured("BILLING_TEST_CHECKOUT cannot be on when DJANGO_ENV=production")
if PRODUCTION and STRIPE_API_BASE:
    raise ImproperlyConfigured("STRIPE_API_BASE (the Stripe emulator) cannot be used when DJANGO_ENV=production")

# ---------------------------------------------------------------------------------------------
# Content-Security-Policy of every response (studio/config/csp.py). Scripts, styles and fetches
# come from this origin only ('self' includes its ws:/wss:, so the live connection needs nothing
# more); takes' images and videos also from the S3 bucket when one is configured; forms post here,
# or to Stripe Checkout when purchases are on (form-action also governs the redirect to it).
# ---------------------------------------------------------------------------------------------
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _media_bucket_origins() -> list[str]:
    """Where django-storages' S3 URLs point: the endpoint (path-style), else the bucket's AWS hosts."""
    bucket, endpoint, region = (env_str(name) for name in
                                ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME"))
    if not bucket:
        return []
    if endpoint:
        return [_origin(endpoint)]
    return [f"https://{bucket}.s3.amazonaws.com"] + ([f"https://{bucket}.s3.{region}.amazonaws.com"] if region else [])


_MEDIA_SOURCES = ["'self'", *_media_bucket_origins()]
_CHECKOUT_ORIGINS = [_origin(STRIPE_API_BASE or "https://checkout.stripe.com")] if STRIPE_SECRET_KEY else []
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": _MEDIA_SOURCES,
    "media-src": _MEDIA_SOURCES,
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'", *_CHECKOUT_ORIGINS],
    "frame-ancestors": ["'none'"],
}
# The API docs (/api/docs, ninja's bundled Swagger UI): its stylesheet draws its icons as data: images.
CONTENT_SECURITY_POLICY_API_DOCS = {**CONTENT_SECURITY_POLICY, "img-src": [*_MEDIA_SOURCES, "data:"]}
