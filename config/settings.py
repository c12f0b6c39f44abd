"""Bugsift settings, read from the environment (django-environ).

With nothing set the app runs for development: SQLite in ``var/`` and an embedded,
file-based Celery broker, so ``make demo`` needs no servers. Set ``DATABASE_URL`` and
``CELERY_BROKER_URL`` to run on PostgreSQL and Redis, as in production.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("BUGSIFT_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

# DJANGO_DEBUG=1 is development mode: the embedded defaults (secret keys, console e-mail, plain
# HTTP cookies). Django's debug pages (tracebacks, the URL list on a 404) follow it unless
# DJANGO_DEBUG_PAGES says otherwise: `make demo` runs in development mode with them off, so it
# shows the site's own 403, 404 and 500 pages.
DEVELOPMENT = env.bool("DJANGO_DEBUG", default=False)
DEBUG = env.bool("DJANGO_DEBUG_PAGES", default=DEVELOPMENT)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEVELOPMENT:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off. Set DJANGO_SECRET_KEY to a "
            "long random string (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(50))'`) "
            "or, for local development only, set DJANGO_DEBUG=1."
        )
    SECRET_KEY = "insecure-development-key-never-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# The site's address, for links made outside a request (`manage.py invite`).
BUGSIFT_BASE_URL = env.str("BUGSIFT_BASE_URL", default="http://127.0.0.1:8000")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "triage",
    "labelling",
    "surveys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.limits.RequestLimits",  # before anything reads the body
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.middleware.RefuseNulCharacters",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into config.lockout's response
]
CSRF_FAILURE_VIEW = "config.error_pages.csrf_failure"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bugsift.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it, so a database restart (or a
# connection a proxy dropped) costs a reconnect, not a 500 for the first request of each process.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so a real Celery worker process in the tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A per-process cache by default; with several web processes set CACHE_URL=redis://host:6379/1
# so that every process sees the same cached counts (e.g. an annotator's progress).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# Sessions are read from that cache when every web process shares it (a session query less per page
# and save), and written through to the database, which stays the record (a logout or a flushed
# session is gone from both). With the per-process default, a logout in one process could not reach
# the others' copies: sessions are then read from the database.
if not CACHES["default"]["BACKEND"].endswith((".LocMemCache", ".DummyCache")):
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Django's validators, for passwords set on the invitation sign-up, password change and reset pages.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Login throttling (django-axes): a username is locked for one address after
# BUGSIFT_LOGIN_FAILURE_LIMIT wrong passwords, for BUGSIFT_LOGIN_COOLOFF_MINUTES (each further
# try restarts the wait), on /accounts/login/, /admin/login/ and /api/auth/token/ alike.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("BUGSIFT_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("BUGSIFT_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
AXES_VERBOSE = False
LOGIN_REDIRECT_URL = "labelling:study-list"
LOGOUT_REDIRECT_URL = "login"

# E-mail (password reset links). Development: printed on the console. Production: SMTP from
# EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.org:587), docs/deploy.md "E-mail".
if DEVELOPMENT and "EMAIL_URL" not in env.ENVIRON:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
else:
    globals().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="bugsift@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = env.int("DJANGO_PASSWORD_RESET_TIMEOUT_HOURS", default=24) * 3600

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # js/plotly.min.js from the installed plotly package (no copy in the repository, no CDN).
    "labelling.analytics.staticfiles.PlotlyFinder",
]
STATIC_ROOT = VAR_DIR / "staticfiles"
# WhiteNoise serves static/ straight from the source folders in development (the demo runs
# without Django's debug pages, so runserver does not serve them); production runs collectstatic.
WHITENOISE_USE_FINDERS = DEVELOPMENT
WHITENOISE_ROOT = BASE_DIR / "static" / "root"  # files served at the site's root: /favicon.ico
MEDIA_ROOT = VAR_DIR / "media"
# Request-size limits (config.limits, docs/deploy.md "Request limits"): a body over its limit is
# a 413 before it is read. Uploaded files always go to a temporary file on disk, never memory.
for _old in ("BUGSIFT_MAX_REQUEST_BYTES", "BUGSIFT_MAX_UPLOAD_BYTES"):
    if _old in env.ENVIRON:
        raise ImproperlyConfigured(f"{_old} is no longer read; set {_old.replace('BYTES', 'MB')} (in MB) instead.")
BUGSIFT_MAX_REQUEST_BYTES = env.int("BUGSIFT_MAX_REQUEST_MB", default=25) * 1024 * 1024  # pages and API
BUGSIFT_MAX_UPLOAD_BYTES = env.int("BUGSIFT_MAX_UPLOAD_MB", default=500) * 1024 * 1024  # files, crash batches
DATA_UPLOAD_MAX_MEMORY_SIZE = BUGSIFT_MAX_REQUEST_BYTES  # form fields (not files) held in memory
FILE_UPLOAD_MAX_MEMORY_SIZE = 0
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]

# Security headers (docs/deploy.md "Security headers"). Production (DJANGO_DEBUG off) assumes HTTPS.
# A Content-Security-Policy on every response: scripts and styles only from our own static files
# (no inline <script>, on*= or style=); the API docs pages relax style-src (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "connect-src": ["'self'"],
    },
}
BUGSIFT_BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)  # the proxy sets X-Forwarded-Proto
if BUGSIFT_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEVELOPMENT and BUGSIFT_BEHIND_TLS_PROXY)
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]  # a load balancer's plain-HTTP health check
# Sent on HTTPS responses only (SecurityMiddleware). A year in production; 0 (off) in development.
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEVELOPMENT else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEVELOPMENT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "config.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",  # DRF's, refusing too-deep nesting and NUL with a 400
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bugsift API",
    "DESCRIPTION": "Ingest, screen, label, adjudicate and export deep-learning framework bugs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DimensionKindEnum": "labelling.models.Dimension.Kind",
        "ScreeningRuleEnum": "labelling.models.Study.ScreeningRule",
        "ReportKindEnum": "triage.models.Report.Kind",
        "DeviceEnum": "triage.models.Device",
        "ReproducerOracleEnum": "triage.models.Reproducer.Oracle",
        "ReproductionKindEnum": "triage.models.Reproduction.Kind",
        "ReproductionStatusEnum": "triage.models.Reproduction.Status",
        "SurveyStatusEnum": "surveys.models.Survey.Status",
        "CalibrationRoundStatusEnum": "labelling.models.CalibrationRound.Status",
        "CalibrationRoundSourceEnum": "labelling.models.CalibrationRound.Source",
    },
}

# Celery. Unset broker: an embedded, file-based broker under var/ (development only).
_default_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    for sub in ("out", "processed", "control"):
        (_default_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_default_broker_dir / "out"),
        "data_folder_out": str(_default_broker_dir / "out"),
        "data_folder_processed": str(_default_broker_dir / "processed"),
        "control_folder": str(_default_broker_dir / "control"),
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection around every task unless told to reuse it: a
# reconnect per task costs more than a short reproduction run. Closed and reopened every 2 x 100 tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=100)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Reproduction runners (celery -A config worker -Q repro.cpu, or repro.gpu on GPU hosts).
BUGSIFT_REPRO_DIR = Path(env.str("BUGSIFT_REPRO_DIR", default=str(VAR_DIR / "repro")))
# The interpreter environments are built from; by default the one running the worker.
BUGSIFT_REPRO_PYTHON = env.str("BUGSIFT_REPRO_PYTHON", default=getattr(sys, "_base_executable", sys.executable))
# Build environments on top of that interpreter's site-packages (preinstalled frameworks).
BUGSIFT_REPRO_SYSTEM_SITE_PACKAGES = env.bool("BUGSIFT_REPRO_SYSTEM_SITE_PACKAGES", default=False)
# A folder of wheels to install from; with BUGSIFT_REPRO_OFFLINE only from there (offline runners).
BUGSIFT_REPRO_WHEEL_DIR = env.str("BUGSIFT_REPRO_WHEEL_DIR", default="")
BUGSIFT_REPRO_OFFLINE = env.bool("BUGSIFT_REPRO_OFFLINE", default=False)
BUGSIFT_REPRO_INSTALLER = env.str("BUGSIFT_REPRO_INSTALLER", default="auto")  # auto | uv | pip
BUGSIFT_REPRO_BUILD_TIMEOUT = env.int("BUGSIFT_REPRO_BUILD_TIMEOUT", default=1800)
# UNSAFE, development only: run scripts without bubblewrap (no isolation at all).
BUGSIFT_SANDBOX_UNSAFE_NO_SANDBOX = env.bool("BUGSIFT_SANDBOX_UNSAFE_NO_SANDBOX", default=False)
BUGSIFT_RUNNER_HEARTBEAT_SECONDS = env.float("BUGSIFT_RUNNER_HEARTBEAT_SECONDS", default=10.0)
# A runner silent for this long is lost: its running runs are retried elsewhere.
BUGSIFT_RUNNER_LOST_AFTER_SECONDS = env.float("BUGSIFT_RUNNER_LOST_AFTER_SECONDS", default=60.0)
# A run still queued this long after it was queued is sent to the broker again (lost message).
BUGSIFT_REPRO_REQUEUE_AFTER_SECONDS = env.float("BUGSIFT_REPRO_REQUEUE_AFTER_SECONDS", default=300.0)
BUGSIFT_REPRO_MAX_ATTEMPTS = env.int("BUGSIFT_REPRO_MAX_ATTEMPTS", default=2)
# A task that finished its run takes the next queued run of its queue, one at a time, up to this many
# runs, and takes no more once it has been going this many seconds (short runs cost one message each).
BUGSIFT_REPRO_BATCH_SIZE = env.int("BUGSIFT_REPRO_BATCH_SIZE", default=10)
BUGSIFT_REPRO_BATCH_SECONDS = env.float("BUGSIFT_REPRO_BATCH_SECONDS", default=60.0)
# How a GPU runner checks at start that it has a GPU.
BUGSIFT_GPU_CHECK_COMMAND = env.str("BUGSIFT_GPU_CHECK_COMMAND", default="nvidia-smi -L")

# GitHub sources may talk only to these API URLs (github.com plus your GitHub Enterprise hosts,
# e.g. https://github.example.com/api/v3), so a source cannot send its token, or the server's
# GITHUB_TOKEN, anywhere else. GITHUB_TOKEN is used only with the default https://api.github.com.
BUGSIFT_GITHUB_API_URLS = [
    url.rstrip("/") for url in env.list("BUGSIFT_GITHUB_API_URLS", default=["https://api.github.com"])
]

# Secrets stored in the database (GitHub source tokens) are encrypted with this Fernet key
# (django-encrypted-model-fields). Several comma-separated keys: the first encrypts, all decrypt
# (key rotation). Make one with
# `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`.
FIELD_ENCRYPTION_KEY = env.list("BUGSIFT_FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEY:
    if not DEVELOPMENT:
        raise ImproperlyConfigured(
            "BUGSIFT_FIELD_ENCRYPTION_KEY is not set and DJANGO_DEBUG is off. It encrypts the GitHub tokens "
            "stored in the database. Make a key with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`, keep it with your other secrets, and set it; "
            "for local development only, set DJANGO_DEBUG=1."
        )
    FIELD_ENCRYPTION_KEY = ["ZGV2ZWxvcG1lbnQtb25seS1rZXktbm90LWZvci11c2U="]  # development only

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A refused request (403, 404, 400) is one line on django.request, not a traceback.
    "filters": {"one_line_client_errors": {"()": "config.logfilters.OneLineClientErrors"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"filters": ["one_line_client_errors"]}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="WARNING")},
}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
