"""Django settings: twelve-factor, every value from the environment, parsed strictly.

The parsing lives in medvtab/env.py.

The embedded default needs no server: SQLite under var/ and kombu's filesystem transport under var/.
Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis); see docs/operations.md.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from medvtab.env import env_bool, env_choice, env_int, env_list, env_path, env_required, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("MEDVTAB_VAR_DIR", BASE_DIR / "var")  # made by the commands that write there

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY") or "insecure-development-key-only-used-with-DEBUG-on"
else:
    SECRET_KEY = env_required(
        "SECRET_KEY", "it is required when DEBUG is off (set DEBUG=1 for local development)"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files: no CDN
    "leaderboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "leaderboard.middleware.ContentSecurityPolicyMiddleware",
    "leaderboard.middleware.DatabaseUnavailableMiddleware",  # 503, not 500, while the db is down
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "medvtab.urls"
WSGI_APPLICATION = "medvtab.wsgi.application"
ASGI_APPLICATION = "medvtab.asgi.application"

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
                "leaderboard.context_processors.navigation",
            ],
        },
    },
]


def _database(url: str) -> dict[str, object]:
    try:
        config = dj_database_url.parse(url, conn_max_age=60)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} is not a database URL: {exc}") from None
    if config.get("ENGINE") == "django.db.backends.sqlite3":
        # IMMEDIATE: a write transaction takes the lock up front and waits for it (busy timeout),
        # instead of failing with "database is locked" when a worker and its heartbeat both write.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        }
        config["CONN_MAX_AGE"] = 0
    return dict(config)


DATABASE_URL = env_str("DATABASE_URL") or ""
if not DATABASE_URL:
    # The embedded default; `migrate` makes the folder (leaderboard/management/commands/migrate.py).
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "static")
MEDIA_URL = "/media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Med-VTAB --------------------------------------------------------------------------------
MEDVTAB_DATA_ROOT = env_path("MEDVTAB_DATA_ROOT", VAR_DIR / "data")
MEDVTAB_DEMO_SEED = env_int("MEDVTAB_DEMO_SEED", 0, minimum=0)
MEDVTAB_BOOTSTRAP_REPLICATES = env_int("MEDVTAB_BOOTSTRAP_REPLICATES", 1000, minimum=0)
MEDVTAB_BOOTSTRAP_SEED = env_int("MEDVTAB_BOOTSTRAP_SEED", 0, minimum=0)
MEDVTAB_DEVICE = env_str("MEDVTAB_DEVICE", "auto")
# Images per chunk of a streamed dataset import (import_medmnist, import_manifest): memory holds
# about two chunks of pixels, so it bounds an import's memory whatever the dataset's size.
MEDVTAB_IMPORT_CHUNK_IMAGES = env_int("MEDVTAB_IMPORT_CHUNK_IMAGES", 256, minimum=1)

# --- Celery ----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
CELERY_TASK_TIME_LIMIT = env_int("MEDVTAB_TASK_TIME_LIMIT", 1800, minimum=10)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The folders are made when the Celery app is configured (medvtab/celery.py).
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A message not acknowledged within the visibility timeout is redelivered: it must outlast
    # the hard time limit, or a long evaluation would run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int(
            "MEDVTAB_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300, minimum=1
        )
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Prefork that survives a pool process killed by SIGKILL (the OOM killer): medvtab/pool.py.
CELERY_WORKER_POOL = "medvtab.pool:TaskPool"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- E-mail (verification, password reset) ---------------------------------------------------
EMAIL_BACKEND = env_choice(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend",
    (
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.smtp.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
    ),
)
EMAIL_FILE_PATH = env_path("EMAIL_FILE_PATH", VAR_DIR / "mail")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Med-VTAB Leaderboard <noreply@localhost>")
MEDVTAB_VERIFICATION_MAX_AGE_S = env_int("MEDVTAB_VERIFICATION_MAX_AGE_S", 3 * 24 * 3600, minimum=60)

# --- Submissions -----------------------------------------------------------------------------
MEDVTAB_MAX_UPLOAD_BYTES = env_int("MEDVTAB_MAX_UPLOAD_BYTES", 512 * 1024**2, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2  # form fields; files stream to disk above this
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024**2
MEDVTAB_QUOTA_SCORED = env_int("MEDVTAB_QUOTA_SCORED", 5, minimum=1)
MEDVTAB_QUOTA_IN_FLIGHT = env_int("MEDVTAB_QUOTA_IN_FLIGHT", 2, minimum=1)
MEDVTAB_QUOTA_ATTEMPTS = env_int("MEDVTAB_QUOTA_ATTEMPTS", 20, minimum=1)
MEDVTAB_MAX_ATTEMPTS = env_int("MEDVTAB_MAX_ATTEMPTS", 3, minimum=1)
MEDVTAB_HEARTBEAT_INTERVAL_S = env_int("MEDVTAB_HEARTBEAT_INTERVAL_S", 10, minimum=1)
MEDVTAB_REQUEUE_AFTER_S = env_int("MEDVTAB_REQUEUE_AFTER_S", 60, minimum=1)
MEDVTAB_REAPER_INTERVAL_S = env_int("MEDVTAB_REAPER_INTERVAL_S", 60, minimum=1)
# Testing and drills only: makes every evaluation sleep this long first, to rehearse worker loss.
MEDVTAB_EVALUATION_DELAY_S = env_int("MEDVTAB_EVALUATION_DELAY_S", 0, minimum=0)
CELERY_BEAT_SCHEDULE = {
    "reap-submissions": {
        "task": "medvtab.reap_submissions",
        "schedule": float(MEDVTAB_REAPER_INTERVAL_S),
        "options": {"queue": "cpu"},
    }
}

# --- Content-security policy (leaderboard/middleware.py) -------------------------------------
CONTENT_SECURITY_POLICY_EXEMPT = ("/admin/",)

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "leaderboard.api.schema.ApiAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leaderboard.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF on writes
    ],
    "DEFAULT_PERMISSION_CLASSES": ["leaderboard.api.permissions.TokenScopePermits"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "leaderboard.api.negotiation.LenientContentNegotiation",
    "DEFAULT_THROTTLE_CLASSES": [
        "leaderboard.api.throttling.AnonThrottle",
        "leaderboard.api.throttling.UserThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leaderboard.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Med-VTAB Leaderboard API",
    "DESCRIPTION": (
        "Submit to and read the Med-VTAB leaderboard. Public data can be read anonymously; "
        "writes need an API token ('Authorization: Bearer <token>') or a browser session with "
        "its CSRF token. Errors are JSON objects with a stable 'code', a human 'detail' and, "
        "for validation errors, the 'field' at fault."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from validator.swagger.io: the docs page reaches this origin only.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Two fields called "status" (a submission's, an invitation's): each enum gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "InvitationStatusEnum": "leaderboard.models.teams.InvitationStatus",
        "StatusEnum": "leaderboard.models.submission.Status",
    },
}

# --- HTTPS (production behind a TLS-terminating proxy: MEDVTAB_HTTPS=1) ------------------------
MEDVTAB_HTTPS = env_bool("MEDVTAB_HTTPS", False)
if MEDVTAB_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Object storage for uploads (django-storages, S3-compatible), when configured --------------
MEDVTAB_S3_BUCKET = env_str("MEDVTAB_S3_BUCKET", "")
if MEDVTAB_S3_BUCKET:
    from botocore.config import Config as S3ClientConfig

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDVTAB_S3_BUCKET,
            "endpoint_url": env_str("MEDVTAB_S3_ENDPOINT_URL") or None,
            "default_acl": "private",
            "file_overwrite": False,
            # Fail fast when the store is unreachable (botocore waits 60 s a try, 5 tries): the
            # upload gets a 503 to retry instead of holding a web worker for minutes.
            "client_config": S3ClientConfig(
                connect_timeout=env_int("MEDVTAB_S3_CONNECT_TIMEOUT_S", 5, minimum=1),
                read_timeout=env_int("MEDVTAB_S3_READ_TIMEOUT_S", 60, minimum=1),
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        },
    }

# --- API throttles (leaderboard/api/throttling.py); counters live in the default cache ---------
MEDVTAB_API_RATES = {
    "anon": env_str("MEDVTAB_API_ANON_RATE", "120/min"),
    "user": env_str("MEDVTAB_API_USER_RATE", "600/min"),
    "upload": env_str("MEDVTAB_API_UPLOAD_RATE", "60/hour"),
}
_RATE_PERIODS = ("s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day")
for _scope, _rate in MEDVTAB_API_RATES.items():
    _count, _, _period = (_rate or "").partition("/")
    if not (_count.isdigit() and int(_count) > 0 and _period in _RATE_PERIODS):
        raise ImproperlyConfigured(
            f"MEDVTAB_API_{_scope.upper()}_RATE={_rate!r} must look like 120/min (per s, min, hour "
            "or day)"
        )

# --- Leaderboards (boards, charts, exports) -------------------------------------------------
# plotly.js comes from the installed plotly package (leaderboard/staticfinders.py), never a CDN.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "leaderboard.staticfinders.PlotlyFinder",
]
# Board pages are cached per benchmark, board generation and filter set; a recompute bumps the
# generation. Local memory by default; CACHE_URL=redis://… shares the cache between web processes.
_CACHE_URL = env_str("CACHE_URL") or ""
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if _CACHE_URL
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": _CACHE_URL or "medvtab-boards",
        "TIMEOUT": 600,
    }
}
MEDVTAB_BOARD_CACHE_S = env_int("MEDVTAB_BOARD_CACHE_S", 600, minimum=0)
# A recompute waits this long, so the results that land meanwhile share it (each recompute draws a
# new cache token and so empties every cached board response); boards lag results by at most this.
MEDVTAB_BOARD_RECOMPUTE_DELAY_S = env_int("MEDVTAB_BOARD_RECOMPUTE_DELAY_S", 2, minimum=0)

# --- Checkpoint track (GPU worker) -----------------------------------------------------------
MEDVTAB_BACKBONE_CACHE_MB = env_int("MEDVTAB_BACKBONE_CACHE_MB", 4096, minimum=1)
MEDVTAB_PRELOAD_BACKBONES = env_list("MEDVTAB_PRELOAD_BACKBONES", [])
MEDVTAB_TORCH_COMPILE = env_bool("MEDVTAB_TORCH_COMPILE", False)
MEDVTAB_INFERENCE_BATCH_SIZE = env_int("MEDVTAB_INFERENCE_BATCH_SIZE", 0, minimum=0)
# Queues that /readyz requires a live worker for (a deployment without GPUs lists only cpu).
MEDVTAB_READY_QUEUES = tuple(env_list("MEDVTAB_READY_QUEUES", ["cpu", "gpu"]))
