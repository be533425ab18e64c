"""Settings, all read from the environment (see README "Configuration")."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

# Standard library only (it runs without Django, as the offline verifier): safe this early.
from audit.offline_verify import parse_key
from failover.env import env_bool, env_float, env_int, env_json, env_list, env_secret
from failover.logformat import log_format, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FAILOVER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"


def _encryption_keys() -> list[bytes]:
    """Stored secrets are encrypted with these Fernet keys, not with SECRET_KEY (the first
    encrypts, all decrypt: failover/secrets.py); a bad key stops start-up."""
    from failover.secrets import parse_keys

    try:
        return parse_keys(env_secret("SECRETS_ENCRYPTION_KEY") or "")
    except ValueError as exc:
        raise ImproperlyConfigured(f"SECRETS_ENCRYPTION_KEY: {exc}") from None


SECRETS_ENCRYPTION_KEYS = _encryption_keys()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "guardian",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "mozilla_django_oidc",
    "audit",
    "identity",
    "failover",
    "failover.intake",
    "failover.notify",
    "approvals",
    "approvals.readiness",
    "dnsproviders",
]

MIDDLEWARE = [
    # First: load balancers' probes by any Host, over plain HTTP (failover/probes.py).
    "failover.probes.AnswerProbes",
    # Outermost but for the probes' own: times every request the app serves (django-prometheus).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "failover.requestid.RequestIdMiddleware",  # X-Request-ID, and the context of log lines
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "failover.middleware.RejectUnstorableText",
    "failover.middleware.RefuseBadBodies",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "failover.urls"
WSGI_APPLICATION = "failover.wsgi.application"

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
                "identity.views.security.step_up_context",
            ],
        },
    },
]

_env = environ.Env()
DATABASES = {
    "default": _env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for locks instead of failing, and take the
    # write lock up front so a read-then-write transaction cannot deadlock on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("CONN_MAX_AGE", 60))
    # A password from a file (compose secrets) rather than inside DATABASE_URL.
    if _db_password := env_secret("DATABASE_PASSWORD"):
        DATABASES["default"]["PASSWORD"] = _db_password
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Server-side binding and prepared statements: a query a connection has run this many
    # times is planned once (psycopg prepares it; PostgreSQL then keeps a generic plan). The
    # request fingerprint's twenty subqueries cost PostgreSQL ~3.5 ms to plan and ~1.7 ms to
    # run. 0 turns it off, for a pooler that cannot carry prepared statements (pgbouncer
    # before 1.21 in transaction mode).
    if _prepare := env_int("DATABASE_PREPARE_THRESHOLD", 5):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=_prepare
        )

# The role web and workers connect as, when migrations run as another (the owner): every
# `migrate` grants it the app's rights and no more (audit/roles.py; README, 'Database roles').
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = True
ANONYMOUS_USER_NAME = None  # governance never grants anything to anonymous visitors

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "login"

# --- Identity (README, "Identity and sign-in") ---
# Local passwords: the embedded demo and a documented break-glass admin. Off in production with
# SSO: nobody signs in or confirms an act with a password (the admin console included).
LOCAL_PASSWORDS = env_bool("LOCAL_PASSWORDS", default=True)
# How an act of invariant 13 is confirmed (identity/stepup.py), strongest first; an organisation
# drops the ones it does not accept (e.g. "passkey" alone: phishing-resistant only).
STEP_UP_METHODS = env_list(
    "STEP_UP_METHODS", ["passkey", "totp", "recovery", "provider", "password"]
)
# Authenticator apps and recovery codes (identity/codes.py): wrong codes count towards the
# step-up lock of identity/stepup.py (per person, every method); django-otp's own per-device
# delay is off so a correct code is never refused for having followed a typo too soon.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Failover approvals")
# A session lasts a working day, then the person signs in again (through the provider).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
# Passkeys (identity/passkeys.py): the relying party is the host people reach the app at and
# an assertion must come from one of the origins. Empty: the host and origin of PUBLIC_BASE_URL.
WEBAUTHN_RP_ID = os.environ.get("WEBAUTHN_RP_ID", "")
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", [])

# --- SSO: OpenID Connect (identity/oidc.py; README, "Single sign-on") ---
# The provider's discovery document is fetched on first use: a provider down at start-up
# stops nobody (sign-in through it says so until it is back).
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").strip().rstrip("/")
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_secret("OIDC_CLIENT_SECRET") or ""
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "your identity provider")
OIDC_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
# Provider group -> product group (the groups authorities are granted to). At every sign-in
# the groups named here are set to exactly those the provider's claim maps to.
OIDC_GROUP_MAP = env_json("OIDC_GROUP_MAP", {})
if not isinstance(OIDC_GROUP_MAP, dict) or not all(
    isinstance(k, str) and isinstance(v, str) for k, v in OIDC_GROUP_MAP.items()
):
    raise ImproperlyConfigured("OIDC_GROUP_MAP must be a JSON object of provider -> product group")
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 5.0)  # seconds for each call to the provider
if OIDC_ISSUER:
    if not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET(_FILE)")
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "identity.oidc.Backend"]
# mozilla-django-oidc's own names (its views read them; endpoints come from discovery).
OIDC_RP_CLIENT_ID = OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = OIDC_CLIENT_SECRET
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = OIDC_SCOPES
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
# Personal API tokens (approvals/tokens.py): one that can decide, execute or roll back lives at
# most this long; a human act by any token needs its person's step-up within these minutes.
TOKEN_MAX_HOURS = env_int("TOKEN_MAX_HOURS", 12)
TOKEN_STEP_UP_MAX_AGE_MINUTES = env_int("TOKEN_STEP_UP_MAX_AGE_MINUTES", 60)

# --- The command line acting for a person (README, "The command line"; identity/operator.py) ---
# `manage.py request … --as USER` is refused unless DEBUG (the demo) or this is on; then every
# act names the operator (OS user, sudo user, --operator-reason), is flagged in the audit log,
# and the person named is told by email.
CLI_OPERATOR_MODE = env_bool("CLI_OPERATOR_MODE", default=False)
# Email to a person (failover/notify/person.py). A short timeout: the act is already committed
# and a dead mail server must cost the operator seconds, not minutes.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends." + ("console" if DEBUG else "smtp") + ".EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "failover@localhost")

# --- API ---
CACHES = {"default": environ.Env().cache_url("CACHE_URL", default="locmemcache://")}
# A dead or unreachable Redis must cost a request milliseconds, not a TCP timeout: past this,
# the limits fall back to a count per process (failover/degrade.py) and /readyz says degraded.
CACHE_SOCKET_TIMEOUT = env_float("CACHE_SOCKET_TIMEOUT", 0.5)
if CACHES["default"]["BACKEND"].endswith("redis.RedisCache"):
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=CACHE_SOCKET_TIMEOUT, socket_timeout=CACHE_SOCKET_TIMEOUT
    )
# The largest request body any door accepts (bytes): larger ones get 413 before being read.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2621440)  # Django's default
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "failover.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["failover.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "failover.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "failover.api.throttling.UserThrottle",
        "failover.api.throttling.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_USER_RATE", "1200/min"),
        "anon": os.environ.get("API_ANON_RATE", "120/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Failover approvals API",
    "DESCRIPTION": "Govern DNS failover: declare, approve, veto, execute and roll back, with "
    "tamper-evident evidence. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The docs page's assets come from this app, never from a CDN.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "failover.api.schema.forbid_unknown_request_fields",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security: strict unless DEBUG is on; every knob can be overridden for a proxy setup. ---
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO") else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: forms carry the token, the API docs page gets it rendered.
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): every script and stylesheet is a file this app serves,
# so markup injected into a page (a reason, a comment, an alert's summary) cannot run or
# restyle anything. The API docs page widens it for itself only (failover/api/docs.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Sign-in throttling (failover/web/signin_throttle.py), counted in the cache:
# - a username is locked at one client address after SIGNIN_MAX_FAILURES_PER_USER failures
#   from there (elsewhere, its owner still signs in), for SIGNIN_LOCKOUT_SECONDS;
# - across addresses, past that many failures the username slows down (a growing wait between
#   attempts, at most SIGNIN_MAX_DELAY_SECONDS), except from an address it signed in from;
# - an address slows down the same way past SIGNIN_MAX_FAILURES_PER_ADDRESS failures;
# - failures are audited at most once per SIGNIN_LOCKOUT_SECONDS per username and address,
#   each event counting the attempts since the previous one.
SIGNIN_MAX_FAILURES_PER_USER = env_int("SIGNIN_MAX_FAILURES_PER_USER", 5)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int("SIGNIN_MAX_FAILURES_PER_ADDRESS", 20)
SIGNIN_LOCKOUT_SECONDS = env_int("SIGNIN_LOCKOUT_SECONDS", 900)
SIGNIN_MAX_DELAY_SECONDS = env_int("SIGNIN_MAX_DELAY_SECONDS", 60)
# Behind a proxy every client has the proxy's address: X-Forwarded-For is read (right to left,
# skipping our own proxies) when the connection comes from SIGNIN_TRUSTED_PROXIES. Despite the
# names, every client address goes through it (failover/clients.py): sign-in throttling, the
# audit's "ip", log lines. On by default
# behind the documented TLS proxy (TRUST_X_FORWARDED_PROTO); a client connecting from elsewhere
# cannot choose its address by writing the header.
SIGNIN_TRUST_X_FORWARDED_FOR = env_bool(
    "SIGNIN_TRUST_X_FORWARDED_FOR", default=env_bool("TRUST_X_FORWARDED_PROTO")
)
SIGNIN_TRUSTED_PROXIES = env_list(
    "SIGNIN_TRUSTED_PROXIES",
    ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)

# --- Metrics (/metrics, failover/metrics_view.py) ---
# Off (404) unless a token or a network is set. A scraper sends `Authorization: Bearer <token>`,
# or connects directly (REMOTE_ADDR, never X-Forwarded-For) from one of the networks.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network (e.g. 10.0.0.0/8)"
        ) from None

# --- Celery ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
CELERY_FS_DIR = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "control"):
        (CELERY_FS_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_DIR / "queue"),
        "data_folder_out": str(CELERY_FS_DIR / "queue"),
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
else:
    # Longer than any single step (steps re-enqueue themselves with short countdowns).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker is down keeps trying to reconnect (Celery's default gives up after 100
# tries, about 50 minutes, and the worker exits): an outage degrades, it never ends the worker.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A web request that enqueues while the broker is down gives up quickly; the sweeper re-sends.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Celery closes a worker's database connections every 2 x this many tasks: so rarely that the
# worker keeps them as Django does, CONN_MAX_AGE (failover/celery.py, keep_connections).
CELERY_DB_REUSE_MAX = 1_000_000_000
# DNS work has its own queue so nothing else can delay a failover.
# Readiness checks wait on other people's servers: their own queue keeps them off both.
# Turning webhook deliveries into signals is the bulk of a flood: its own queue lets that
# worker run at a lower CPU priority than the web doors acknowledging the deliveries.
CELERY_TASK_ROUTES = {
    "dnsproviders.tasks.*": {"queue": "critical"},
    "approvals.readiness.tasks.*": {"queue": "readiness"},
    "failover.intake.tasks.process_delivery": {"queue": "intake"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-dns-changes": {
        "task": "dnsproviders.tasks.sweep",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 12},
    },
    # Each entry expires before its next run so a stalled worker cannot pile up duplicates.
    "sweep-intake-deliveries": {
        "task": "failover.intake.tasks.sweep_deliveries",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    "sweep-notifications": {
        "task": "failover.notify.tasks.sweep_notifications",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # Webhook bodies and idempotency records past their windows (see Retention below); audited.
    "purge-retention": {
        "task": "failover.tasks.purge_retention",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    "sweep-readiness-checks": {
        "task": "approvals.readiness.tasks.sweep",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # A verification job whose worker died, or whose message was lost, is failed or re-sent.
    "sweep-audit-verifications": {
        "task": "audit.tasks.sweep_verifications",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 240},
    },
    "expire-stale-requests": {
        "task": "approvals.tasks.expire_stale_requests",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    "open-due-drills": {
        "task": "approvals.tasks.open_due_drills",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
}

# --- Heartbeats and the dead-man switch (failover/heartbeat.py; docs/operations.md) ---
# Beat records "beat" from its scheduler (failover/beat.py, the default for `celery beat`);
# a task sent to each routed queue every interval records "queue:<name>" from the worker that
# takes it. /readyz reports one older than HEARTBEAT_STALE_SECONDS as degraded.
CELERY_BEAT_SCHEDULER = "failover.beat.HeartbeatScheduler"
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 30)
HEARTBEAT_STALE_SECONDS = env_int("HEARTBEAT_STALE_SECONDS", 3 * HEARTBEAT_INTERVAL_SECONDS)
if HEARTBEAT_INTERVAL_SECONDS < 1 or HEARTBEAT_STALE_SECONDS < HEARTBEAT_INTERVAL_SECONDS:
    # A limit under the interval would call every healthy heartbeat stale between two beats.
    raise ImproperlyConfigured(
        "HEARTBEAT_INTERVAL_SECONDS must be >= 1 and HEARTBEAT_STALE_SECONDS >= it"
    )
# Pinged (GET) every interval while nothing is stale: a healthchecks.io-style check URL that
# pages someone when the pings stop. HEARTBEAT_FAIL_URL (e.g. the same URL + "/fail") is
# pinged instead while something is stale; HEARTBEAT_AUTHORIZATION is sent as the
# Authorization header (Opsgenie: "GenieKey <key>"). The URL is a credential: _FILE works.
HEARTBEAT_URL = env_secret("HEARTBEAT_URL") or ""
HEARTBEAT_FAIL_URL = env_secret("HEARTBEAT_FAIL_URL") or ""
HEARTBEAT_AUTHORIZATION = env_secret("HEARTBEAT_AUTHORIZATION") or ""
# Each heartbeat task expires after one interval: one that waited longer in its queue is
# dropped, so a queue lagging by more than the interval goes stale like one nobody consumes.
HEARTBEAT_QUEUES = sorted({"celery", *(route["queue"] for route in CELERY_TASK_ROUTES.values())})
for _queue in HEARTBEAT_QUEUES:
    CELERY_BEAT_SCHEDULE[f"heartbeat-{_queue}"] = {
        "task": "failover.tasks.heartbeat",
        "schedule": timedelta(seconds=HEARTBEAT_INTERVAL_SECONDS),
        "args": [_queue],
        "options": {"queue": _queue, "expires": HEARTBEAT_INTERVAL_SECONDS},
    }
CELERY_BEAT_SCHEDULE["dead-man-switch"] = {
    "task": "failover.tasks.ping_heartbeat_url",
    "schedule": timedelta(seconds=HEARTBEAT_INTERVAL_SECONDS),
    "options": {"expires": HEARTBEAT_INTERVAL_SECONDS},
}

# Links in notifications point here (the address people reach the web app at).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Paging-tool intake ---
# A signed PagerDuty delivery whose event (its signed occurred_at) is older than this is
# recorded and not processed. PagerDuty retries a failing delivery for about 20 minutes and
# queues later ones behind it, so the default leaves room for its own retries.
INTAKE_REPLAY_WINDOW_SECONDS = env_int("INTAKE_REPLAY_WINDOW_SECONDS", 1800)

# --- Retention (failover/retention.py, hourly) ---
# A delivery whose processing ended this long ago keeps its row, headers and outcome but not
# its raw body (up to 1 MiB); the body's SHA-256 stays in its intake.delivery_received event.
DELIVERY_BODY_RETENTION_DAYS = env_int("DELIVERY_BODY_RETENTION_DAYS", 30)
# An Idempotency-Key older than this is forgotten: the same key afterwards is a new request.
IDEMPOTENCY_RETENTION_HOURS = env_int("IDEMPOTENCY_RETENTION_HOURS", 48)
if DELIVERY_BODY_RETENTION_DAYS < 1 or IDEMPOTENCY_RETENTION_HOURS < 1:
    # 0 or less would purge what was just received: a typo must not erase evidence.
    raise ImproperlyConfigured("DELIVERY_BODY_RETENTION_DAYS and IDEMPOTENCY_RETENTION_HOURS >= 1")

# --- Audit checkpoints (audit/checkpoints.py; README, 'Audit checkpoints') ---
# Signed statements of the chain head, kept OUTSIDE the database, so that someone holding the
# whole database but not these keys cannot rewrite or cut the audit history undetected.
# "KEY_ID:BASE64 32-byte Ed25519 seed" (`manage.py audit_keys new`); only the worker needs it.
AUDIT_SIGNING_KEY = env_secret("AUDIT_SIGNING_KEY")
# Retired keys' "KEY_ID:BASE64 public key", comma-separated: their checkpoints still verify.
AUDIT_VERIFY_KEYS = env_list("AUDIT_VERIFY_KEYS", [])
# With DEBUG on and no key, one is generated here on first use (`make run`); with DEBUG off and
# no key, no checkpoints are taken and the verifiers and `manage.py check` say so.
AUDIT_LOCAL_SIGNING_KEY_FILE = VAR_DIR / "audit-signing-key" if DEBUG else None


def _audit_keys() -> None:
    """A malformed key stops start-up, not the first checkpoint an hour later."""
    for name, values in (
        ("AUDIT_SIGNING_KEY", [AUDIT_SIGNING_KEY or ""]),
        ("AUDIT_VERIFY_KEYS", AUDIT_VERIFY_KEYS),
    ):
        for value in filter(None, values):
            try:
                parse_key(value)
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from None


_audit_keys()
# Stores (every configured one gets every checkpoint): an append-only local directory ("" for
# none: the embedded default, strong only against someone without the host) and an S3 bucket
# created with Object Lock, whose objects are written in COMPLIANCE mode for the retention below.
AUDIT_CHECKPOINT_DIR = os.environ.get("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints"))
AUDIT_CHECKPOINT_S3_BUCKET = os.environ.get("AUDIT_CHECKPOINT_S3_BUCKET", "")
AUDIT_CHECKPOINT_S3_PREFIX = os.environ.get("AUDIT_CHECKPOINT_S3_PREFIX", "audit-checkpoints/")
AUDIT_CHECKPOINT_S3_ENDPOINT_URL = os.environ.get("AUDIT_CHECKPOINT_S3_ENDPOINT_URL") or None
AUDIT_CHECKPOINT_RETENTION_DAYS = env_int("AUDIT_CHECKPOINT_RETENTION_DAYS", 2557)  # 7 years
# A checkpoint every this many seconds (when the chain moved) and after every this many events.
AUDIT_CHECKPOINT_INTERVAL_SECONDS = env_int("AUDIT_CHECKPOINT_INTERVAL_SECONDS", 60)
AUDIT_CHECKPOINT_EVERY_EVENTS = env_int("AUDIT_CHECKPOINT_EVERY_EVENTS", 1000)
if AUDIT_CHECKPOINT_RETENTION_DAYS < 1 or AUDIT_CHECKPOINT_INTERVAL_SECONDS < 1:
    raise ImproperlyConfigured(
        "AUDIT_CHECKPOINT_RETENTION_DAYS and AUDIT_CHECKPOINT_INTERVAL_SECONDS must be >= 1"
    )
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "audit.tasks.take_checkpoint",
    "schedule": timedelta(seconds=AUDIT_CHECKPOINT_INTERVAL_SECONDS),
    "options": {"expires": max(1, AUDIT_CHECKPOINT_INTERVAL_SECONDS * 4 // 5)},
}

# --- DNS ---
DNS_ZONE_DIR = Path(os.environ.get("DNS_ZONE_DIR", VAR_DIR / "zones"))
ROUTE53_RATE_PER_SECOND = env_float("ROUTE53_RATE_PER_SECOND", 10.0)
ROUTE53_BURST = env_float("ROUTE53_BURST", 50.0)
# A worker that claimed a change and went silent this long is presumed dead; the sweeper
# lets another worker take over (after asking the provider what already landed).
DNS_CHANGE_LEASE_SECONDS = env_int("DNS_CHANGE_LEASE_SECONDS", 60)

# --- Readiness checks of failover targets ---
# A failing identity-critical check (TLS, identity provider, secrets) is a system veto.
READINESS_SYSTEM_VETO = env_bool("READINESS_SYSTEM_VETO", default=True)
READINESS_TLS_MIN_DAYS = env_int("READINESS_TLS_MIN_DAYS", 14)
READINESS_SECRET_MAX_AGE_DAYS = env_int("READINESS_SECRET_MAX_AGE_DAYS", 90)
READINESS_TIMEOUT = env_float("READINESS_TIMEOUT", 5.0)
READINESS_REQUIRED_SECRETS = env_list(
    "READINESS_REQUIRED_SECRETS", ["tls_private_key", "oidc_client_secret"]
)
# A target's certificate trust name -> PEM bundle of the CAs pinned for it (JSON object).
READINESS_CA_BUNDLES = env_json("READINESS_CA_BUNDLES", {})
# A check not reported within this many READINESS_TIMEOUTs (of its run, or of the request's
# declaration when no run reported at all) is recorded as failed: never pending forever.
READINESS_DEADLINE_TIMEOUTS = env_int("READINESS_DEADLINE_TIMEOUTS", 12)
# Origins (https://host[:port]) an OIDC discovery document may point its jwks_uri to besides
# the issuer's own; "*" allows any.
READINESS_JWKS_ALLOWED_ORIGINS = env_list("READINESS_JWKS_ALLOWED_ORIGINS", [])


# Outbound fetches (readiness checks, notifications) refuse loopback, private, link-local,
# multicast, unspecified and reserved addresses unless one of these CIDRs holds them.
def _networks(name: str) -> list[str]:
    """A comma-separated CIDR list; a typo stops start-up instead of opening or shutting doors."""
    import ipaddress

    values = env_list(name, [])
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {exc}") from None
    return values


OUTBOUND_ALLOW_NETWORKS = _networks("OUTBOUND_ALLOW_NETWORKS")

# JSON lines (one object per line, with request_id, actor, failover_request_id, client) unless
# DEBUG is on; LOG_FORMAT=json|plain overrides (failover/logformat.py). Celery leaves the root
# logger alone so worker and beat lines come out the same way.
LOG_FORMAT = log_format(DEBUG)
LOGGING = logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO"))
LOGGING_CONFIG = "failover.logformat.configure"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
