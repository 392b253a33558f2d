"""Rapport settings: every value comes from the environment with a safe default.

The embedded default is SQLite under ``var/`` with DEBUG off. Production deployments use
``DJANGO_SETTINGS_MODULE=rapport.settings_production``, which adds HTTPS-only cookies and
HSTS and refuses to start with the development secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.csp import CSP

# One BLAS thread per process (set before NumPy loads, which the apps do after settings): web and
# worker processes already share the cores, and OpenBLAS threads spinning on a busy machine made
# the value fits 2-4x slower in wall and CPU time (bench/README.md, customer value).
for _blas in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas, "1")

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("RAPPORT_VAR_DIR", Path.cwd() / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite cannot create its folder; every command needs it

DEV_SECRET_KEY = "rapport-development-secret-do-not-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = os.environ.get("DEBUG", "").lower() in {"1", "true", "yes"}


def _csv_env(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


ALLOWED_HOSTS = _csv_env("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = _csv_env("CSRF_TRUSTED_ORIGINS", "")
# Where customers reach this install (links in emails sent by the worker, which has no request).
RAPPORT_SITE_URL = os.environ.get("RAPPORT_SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "dj_queue",
    "ninja",
    "rapport.core",
    "rapport.people",
    "rapport.customers",
    "rapport.cases",
    "rapport.channels",
    "rapport.value",
    "rapport.feedback",
    "rapport.wiring",  # connects sibling apps' hooks (feedback invitations -> channels email)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rapport.people.middleware.StaffTimezoneMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rapport.urls"
WSGI_APPLICATION = "rapport.wsgi.application"
ASGI_APPLICATION = "rapport.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# --- database -------------------------------------------------------------
DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'rapport.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while one writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server, and a statement run a few times on a connection prepared
    # there: PostgreSQL then skips parsing and planning it (about a third of the database time of
    # opening a case or reading a case page). A pooler in transaction mode cannot keep prepared
    # statements: DATABASE_PREPARE_THRESHOLD=off turns preparing off. Options given in
    # DATABASE_URL (?sslmode=require, ...) stay.
    _threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
    # The same backend, with a health check of kept connections that needs no round trip.
    DATABASES["default"]["ENGINE"] = "rapport.core.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=None if _threshold == "off" else int(_threshold)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -----------------------------------------------------------------
AUTH_USER_MODEL = "people.Staff"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rapport.people.auth.StaffBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login rate limit: repeated failures for one username from one address lock that pair out.
AXES_FAILURE_LIMIT = int(os.environ.get("RAPPORT_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- i18n / time ----------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
RAPPORT_DEFAULT_PHONE_REGION = os.environ.get("RAPPORT_DEFAULT_PHONE_REGION", "GB")

# --- static and uploads ---------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # site-wide CSS and vendored htmx (rapport/ is not an app)
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024  # CSV imports arrive as request bodies

# --- background work ------------------------------------------------------
# dj_queue keeps jobs in the application database (SKIP LOCKED on PostgreSQL) and has a
# scheduler for recurring jobs; see ARCHITECTURE.md for why it was chosen.
TASKS = {
    "default": {
        "BACKEND": os.environ.get("RAPPORT_TASK_BACKEND", "dj_queue.backend.DjQueueBackend"),
        "QUEUES": [],
        "OPTIONS": {},
    }
}
if TASKS["default"]["BACKEND"] != "dj_queue.backend.DjQueueBackend":
    TASKS["default"].pop("OPTIONS")
DATABASE_ROUTERS = ["dj_queue.routers.DjQueueRouter"]
# Value fits on demand answer at once up to this many orders; larger ones run in the worker (202).
RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS = int(os.environ.get("RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS", "200000"))


# --- email ----------------------------------------------------------------
# EMAIL_URL picks the outbound mailer: console: (default), smtp://user:pass@host:port,
# smtps://... (implicit TLS), smtp+tls://... (STARTTLS), file:///folder (one file per message).
def _mailer(url: str) -> dict:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("", "console"):
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        return {"BACKEND": "django.core.mail.backends.filebased.EmailBackend", "OPTIONS": {"file_path": parts.path}}
    if parts.scheme in ("smtp", "smtps", "smtp+tls"):
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        options = {
            "host": parts.hostname or "localhost",
            "port": port,
            "use_ssl": parts.scheme == "smtps",
            "use_tls": parts.scheme == "smtp+tls",
            "timeout": 30,
        }
        if parts.username:
            options |= {"username": unquote(parts.username), "password": unquote(parts.password or "")}
        return {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    raise ValueError(f"EMAIL_URL: unknown scheme {parts.scheme!r} (use console:, smtp://, smtps://, file://)")


MAILERS = {"default": _mailer(os.environ.get("EMAIL_URL", "console:"))}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "care@rapport.invalid")
# IMAP polling (channels): imaps://user:pass@host:993/INBOX?channel=care@example.com, every minute;
# outbound rows stuck in "sending" are reconciled every five minutes.
IMAP_URL = os.environ.get("IMAP_URL", "")
if TASKS["default"]["BACKEND"] == "dj_queue.backend.DjQueueBackend":
    _options: dict[str, Any] = TASKS["default"]["OPTIONS"]  # type: ignore[assignment]
    _recurring = _options.setdefault("recurring", {})
    _recurring["channels-outbound-reconcile"] = {
        "task_path": "rapport.channels.tasks.reconcile_outbound",
        "schedule": "*/5 * * * *",
    }
    # A safety net: stored inbound mail left by a worker that died mid-batch is taken again.
    _recurring["channels-inbound-drain"] = {
        "task_path": "rapport.channels.tasks.process_inbound",
        "schedule": "* * * * *",
    }
    # SLA escalations run in sweeps scheduled for the minutes clocks fall due (cases.sla); this
    # one every five minutes catches any a lost job would have missed.
    _recurring["cases-clock-sweep"] = {"task_path": "rapport.cases.tasks.sweep_clocks", "schedule": "*/5 * * * *"}
    _recurring["feedback-relationship-surveys"] = {
        "task_path": "rapport.feedback.tasks.relationship_surveys",
        "schedule": "17 6 * * *",
    }
    # Nightly: refit the value models to today's order history, rescore, re-tier (value.tasks).
    _recurring["value-refit"] = {"task_path": "rapport.value.tasks.refit_values", "schedule": "40 2 * * *"}
    if IMAP_URL:
        _recurring["channels-imap-poll"] = {"task_path": "rapport.channels.tasks.poll_imap", "schedule": "* * * * *"}

# --- security (safe everywhere; settings_production adds the HTTPS-only parts) ---
SESSION_ENGINE = "rapport.people.sessions"  # Django's db sessions, read without the ORM
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# --- API ------------------------------------------------------------------
RAPPORT_API_DEFAULT_LIMIT = 50
RAPPORT_API_MAX_LIMIT = 200

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
