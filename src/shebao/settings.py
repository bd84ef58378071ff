"""Django settings. Everything configurable comes from environment variables (see README)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dj_database_url

from shebao.instance import env_bool, env_int, instance_dir, secret_key

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = instance_dir()

SECRET_KEY = secret_key(INSTANCE_DIR)
DEBUG = env_bool("SHEBAO_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("SHEBAO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("SHEBAO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "ninja",
    "huey.contrib.djhuey",
    "shebao.core",
    "shebao.policy",
    "shebao.law",
    "shebao.org",
    "shebao.accounts",
    "shebao.audit",
    "shebao.roster",
    "shebao.imports",
    "shebao.ledger",
    "shebao.rules",
    "shebao.notify",
    "shebao.cases",
    "shebao.evidence",
    "shebao.api",
    "shebao.web",
    "shebao.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "shebao.urls"
WSGI_APPLICATION = "shebao.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "shebao.web.context_processors.navigation",
                "shebao.notify.context_processors.notifications",
            ],
        },
    },
]

# Database: embedded SQLite (WAL) in the instance folder unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'shebao.sqlite3'}",
        conn_max_age=env_int("SHEBAO_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # 64 MB page cache (default 2 MB): a 100,000-row import updates a dozen indexes at once.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; "
            "PRAGMA cache_size=-65536;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(INSTANCE_DIR / "test-shebao.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "shebao.accounts.backends.RolePermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "login"

# Sessions expire after idle time and when the browser closes.
SESSION_COOKIE_AGE = env_int("SHEBAO_SESSION_SECONDS", 8 * 3600)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SHEBAO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Login throttling: lock a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env_int("SHEBAO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("SHEBAO_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = INSTANCE_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = INSTANCE_DIR / "uploads"
# Uploaded import files hold plaintext ID and phone numbers (PIPL): a committed batch's file is
# deleted by the daily sweep; an unfinished batch's file this many days after its last change.
SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS = env_int("SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS", 7)

# Government-data connectors (shebao.ledger.connectors; docs/connector-api.md). An HTTP connector
# may reach private/loopback addresses only when this is on (an in-house gateway); link-local and
# metadata addresses are always refused. Drop folders must lie under one of the roots (":"-separated).
SHEBAO_CONNECTOR_ALLOW_PRIVATE = env_bool("SHEBAO_CONNECTOR_ALLOW_PRIVATE", False)
SHEBAO_DROP_FOLDER_ROOTS = [
    p for p in os.environ.get("SHEBAO_DROP_FOLDER_ROOTS", str(INSTANCE_DIR / "drop")).split(":") if p
]
# Notifications (shebao.notify; docs/notifications.md). Webhook and robot URLs resolving to
# private or loopback addresses are refused unless this is on (the tests and the demo turn it on).
SHEBAO_ALLOW_PRIVATE_URLS = env_bool("SHEBAO_ALLOW_PRIVATE_URLS", False)
# The address users open Shebao at, for the links in messages.
SHEBAO_BASE_URL = os.environ.get("SHEBAO_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# A demo instance (make demo): shows the demo mailbox page under 通知.
SHEBAO_DEMO = env_bool("SHEBAO_DEMO", False)
# Where `shebao mail_sink` (the demo's local SMTP server) keeps the mail it receives.
SHEBAO_MAIL_SINK_DIR = Path(os.environ.get("SHEBAO_MAIL_SINK_DIR", str(INSTANCE_DIR / "mail-sink")))
WHITENOISE_USE_FINDERS = True  # serve straight from the installed packages; no collectstatic step

# Background work: Huey on SQLite in the instance folder, or Redis when configured.
REDIS_URL = os.environ.get("SHEBAO_REDIS_URL", "").strip()
HUEY = {
    # Redis keys are namespaced by instance folder so two instances never share a queue.
    "name": "shebao-" + hashlib.sha256(str(INSTANCE_DIR).encode()).hexdigest()[:12],
    "immediate": env_bool("SHEBAO_HUEY_IMMEDIATE", False),
    "utc": False,  # periodic schedules in Asia/Shanghai (Django sets TZ from TIME_ZONE)
    "consumer": {"workers": env_int("SHEBAO_WORKERS", 2), "worker_type": "thread", "periodic": True},
}
if REDIS_URL:
    HUEY |= {"huey_class": "huey.RedisHuey", "url": REDIS_URL}
else:
    HUEY |= {"huey_class": "huey.SqliteHuey", "filename": str(INSTANCE_DIR / "huey.sqlite3")}

# Field encryption (AES-GCM key ring) and blind-index key; see shebao.core.crypto.
SHEBAO_DATA_KEYS = os.environ.get("SHEBAO_DATA_KEYS", "").strip()
SHEBAO_INDEX_KEY = os.environ.get("SHEBAO_INDEX_KEY", "").strip()

SHEBAO_PAGE_SIZE = 50
SHEBAO_TRUST_X_FORWARDED_FOR = env_bool("SHEBAO_TRUST_X_FORWARDED_FOR", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SHEBAO_LOG_LEVEL", "WARNING")},
    # The Huey consumer installs its own handler; don't print each of its lines twice.
    "loggers": {"huey": {"level": "INFO", "propagate": False}},
}
