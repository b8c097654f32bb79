"""The hub's settings: every knob is an environment variable with a default that works on one
machine with a local PostgreSQL and Redis (see README, "Configuration")."""

import datetime as dt
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url as parse_redis_url

from cdc_publisher.brokers import RABBITMQ, UnsupportedBroker, broker_kind, declare_queue, transport_options
from cdc_publisher.contract import DEAD_LETTER_QUEUE, cdc_queue
from core.mail import BadEmailURL, email_settings

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of a one-machine install (generated secret key, first admin password): never in git.
STATE_DIR = Path(os.environ.get("HUB_STATE_DIR", BASE_DIR / ".hub"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_secret_key() -> str:
    """A secret key generated once per machine and kept in STATE_DIR, so that a one-machine
    install needs no configuration and no key is ever committed."""
    path = STATE_DIR / "secret_key"
    if not path.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env_str("DJANGO_SECRET_KEY") or local_secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# Served over HTTPS (production): DJANGO_HTTPS=true turns on secure cookies, HSTS and the redirect
# to HTTPS (health and metrics stay reachable over plain HTTP for load balancers and Prometheus).
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("DJANGO_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # load balancers and Prometheus, inside the network
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS and env_bool("DJANGO_HSTS_SUBDOMAINS", True)
# Behind a TLS-terminating proxy: DJANGO_CSRF_TRUSTED_ORIGINS=https://hub.example.com and
# DJANGO_BEHIND_HTTPS_PROXY=true (the proxy must set X-Forwarded-Proto).
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# Every page's scripts, styles, images and connections (the live page's server-sent events) come
# from the hub itself, nothing inline; no page may be framed (hub.csp; Django 6.0's setting name).
SECURE_CSP = {
    "default-src": ["'self'"],
    "connect-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
if env_bool("DJANGO_BEHIND_HTTPS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_results",
    "django_celery_beat",
    "axes",  # failed logins, lockouts (admin: Axes), `manage.py axes_reset`
    "ninja",  # the API docs' JavaScript, served by the hub instead of a CDN
    "hub.apps.HubConfig",
    "notifications",
    "rules",
    "jira_bridge",
    "receivers.outbox",
    "pipeline",
    "oss_watch",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hub.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into its 429 answer
]

ROOT_URLCONF = "hub.urls"
ASGI_APPLICATION = "hub.asgi.application"
WSGI_APPLICATION = "hub.wsgi.application"

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
                "hub.context_processors.links",
            ],
        },
    },
]

# Default: the local `eventhub` database over the Unix socket, as the current OS user.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres:///eventhub"), conn_max_age=60, conn_health_checks=True
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
LOGIN_URL = "admin:login"

# Failed logins are counted per client address and per username (django-axes, in PostgreSQL):
# HUB_LOGIN_FAILURE_LIMIT failures from one address, or for one username from anywhere, lock that
# address or that username out, the right password included. The lockout lasts
# HUB_LOGIN_LOCKOUT_MINUTES from the last failure before it, or until `manage.py axes_reset` (or
# axes_reset_ip / axes_reset_username). The client address is REMOTE_ADDR: uvicorn's, which
# honours X-Forwarded-For only from FORWARDED_ALLOW_IPS.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("HUB_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_float("HUB_LOGIN_LOCKOUT_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each on its own: either one locks out
# An attempt while locked out is refused without being recorded: recorded, it would restart the
# lockout (so anyone who knows a username could keep that account locked for good) and append its
# form to the access attempt's post_data (about 1 KB a request, without bound).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False  # no banner on every manage.py command and process start

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("HUB_LOG_LEVEL", "INFO")},
}

# --- The hub ---------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
HUB_ENVIRONMENTS = env_list("HUB_ENVIRONMENTS", "dev,staging,prod")

HUB_METRICS_TOKEN = env_str("HUB_METRICS_TOKEN")  # Prometheus sends it as a bearer token
# A client address (IPv6: its /64) that sends this many refused bearer tokens (API or /metrics)
# within the window (seconds, from its first) is answered 429 for any token until the window ends
# (core.throttle).
HUB_TOKEN_FAILURE_LIMIT = env_int("HUB_TOKEN_FAILURE_LIMIT", 10)
HUB_TOKEN_FAILURE_WINDOW = env_int("HUB_TOKEN_FAILURE_WINDOW", 60)
# Hot state in Redis (recent jobs' metadata, hourly counters) is kept this long: 24 to 168 hours.
HUB_HOT_RETENTION_HOURS = env_float("HUB_HOT_RETENTION_HOURS", 24.0)
# The live page's server-sent events cross processes through this Redis (pub/sub channel
# "events_channel", global on the server: one hub per Redis server).
EVENTSTREAM_REDIS = parse_redis_url(REDIS_URL)
EVENTSTREAM_CHANNELMANAGER_CLASS = "notifications.live.LiveChannels"
FLOWER_URL = env_str("FLOWER_URL", "http://127.0.0.1:5555/")  # linked from the admin

# Jira: with no JIRA_URL the hub runs in outbox mode (tickets stay in the hub's database).
JIRA_URL = env_str("JIRA_URL")
JIRA_USER = env_str("JIRA_USER")
JIRA_API_TOKEN = env_str("JIRA_API_TOKEN")
JIRA_DEFAULT_PROJECT = env_str("JIRA_DEFAULT_PROJECT")  # for tickets asked for through the API
JIRA_TIMEOUT = env_float("JIRA_TIMEOUT", 10.0)  # seconds, per HTTP request
# An attempt holds its request for 2 x JIRA_TIMEOUT + this; past that its worker is taken for dead.
JIRA_LEASE_MARGIN = env_float("JIRA_LEASE_MARGIN", 30.0)
JIRA_MAX_ATTEMPTS = env_int("JIRA_MAX_ATTEMPTS", 6)
JIRA_BACKOFF_BASE = env_float("JIRA_BACKOFF_BASE", 2.0)  # seconds; doubled per attempt, jittered
JIRA_BACKOFF_MAX = env_float("JIRA_BACKOFF_MAX", 120.0)  # also caps every countdown (< visibility)
# The shared budget: tokens per second and burst for all workers; updates leave RESERVE for creates.
JIRA_RATE = env_float("JIRA_RATE", 5.0)
JIRA_BURST = env_int("JIRA_BURST", 10)
JIRA_UPDATE_RESERVE = env_int("JIRA_UPDATE_RESERVE", 3)
JIRA_DEFAULT_RETRY_AFTER = env_float("JIRA_DEFAULT_RETRY_AFTER", 10.0)  # a 429 without Retry-After
# The breaker: opens after THRESHOLD transient failures in a row, probes after COOLDOWN seconds.
JIRA_BREAKER_THRESHOLD = env_int("JIRA_BREAKER_THRESHOLD", 5)
JIRA_BREAKER_COOLDOWN = env_float("JIRA_BREAKER_COOLDOWN", 30.0)
# An ambiguous create is looked for in Jira for this long (search lags) before it is made again,
# counted from the write: when the unclear call ended, or would have ended for a worker killed in
# it. Jira Cloud shows most writes in search within seconds (Atlassian's "search and reconcile").
JIRA_RECONCILE_WINDOW = env_float("JIRA_RECONCILE_WINDOW", 60.0)
JIRA_RECONCILE_FIRST_LOOK = env_float("JIRA_RECONCILE_FIRST_LOOK", 5.0)
# At most one comment per ticket per interval when more events join it.
JIRA_COMMENT_INTERVAL = env_float("JIRA_COMMENT_INTERVAL", 300.0)
HUB_BASE_URL = env_str("HUB_BASE_URL", "http://127.0.0.1:8000")  # for links in tickets

# Names whose values are redacted before anything is stored, rendered or sent: matched
# case-insensitively inside keys, at any depth of an event's data and old (see rules.redaction).
HUB_REDACT_NAMES = env_list("HUB_REDACT_NAMES", "password,passwd,secret,token,api_key,card,cvv,ssn,iban")
# A line longer than this is bad input (the publisher's --max-line-bytes has the same default).
HUB_MAX_LINE_BYTES = env_int("HUB_MAX_LINE_BYTES", 16 * 1024 * 1024)
# A batch still running after this many seconds stops (between events) and is kept to replay.
HUB_BATCH_SECONDS = env_float("HUB_BATCH_SECONDS", 120.0)
# A worker silent this long (it announces itself every 2 s) is taken for gone: /health stops
# counting it, and the jobs it was running show as held by a stopped worker.
HUB_WORKER_TTL = env_float("HUB_WORKER_TTL", 30.0)
# Bounds on one render of a rule's template (rules/sandbox.py): the characters it may produce and
# the seconds it may take. A render passing either fails as that rule's error for that event.
HUB_RENDER_MAX_CHARS = env_int("HUB_RENDER_MAX_CHARS", 1_000_000)
HUB_RENDER_SECONDS = env_float("HUB_RENDER_SECONDS", 1.0)

# Email, for the email receiver (core.mail): SMTP from EMAIL_URL (smtp://, smtp+tls://, smtps://;
# the password in it or in EMAIL_PASSWORD), else each message written to a file in HUB_MAIL_DIR,
# which the admin shows. The URL itself is not kept as a setting: it may hold a password.
HUB_MAIL_DIR = Path(env_str("HUB_MAIL_DIR") or STATE_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("EMAIL_FROM", "hub@localhost")
try:
    globals().update(email_settings(env_str("EMAIL_URL"), HUB_MAIL_DIR, env_str("EMAIL_PASSWORD")))
except BadEmailURL as exc:
    raise ImproperlyConfigured(f"EMAIL_URL: {exc}") from None

# --- Retention (cold storage, PostgreSQL): records older than this many days are pruned hourly ---
# Events, error logs, audit entries, notifications and settled job failures (never failed ones).
HUB_RETENTION_DAYS = env_int("HUB_RETENTION_DAYS", 30)
# Celery task results (django-celery-results).
HUB_RESULT_RETENTION_DAYS = env_int("HUB_RESULT_RETENTION_DAYS", 7)
# Ticket requests created or failed (not those a failed job failure still waits to replay), outbox tickets.
HUB_LEDGER_RETENTION_DAYS = env_int("HUB_LEDGER_RETENTION_DAYS", 90)
# Daily statistics.
HUB_STATS_RETENTION_DAYS = env_int("HUB_STATS_RETENTION_DAYS", 400)
# Rows per DELETE statement, so pruning never holds many locks or one long transaction.
HUB_PRUNE_BATCH = env_int("HUB_PRUNE_BATCH", 5000)

# --- Celery ----------------------------------------------------------------------------------
# Redis or RabbitMQ, told by the URL's scheme (README, "Choosing a broker"). Hot state stays in
# REDIS_URL's Redis whichever the broker is.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL  # set but empty (compose): REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis gives a message to another worker once it has been held this long unacknowledged: that is
# how a batch held by a killed worker comes back. The longest a living worker holds one is a
# countdown (at most JIRA_BACKOFF_MAX) and its call, or a batch (HUB_BATCH_SECONDS): the check
# jira_bridge.E001 keeps both below it. A message held longer still (a worker busy behind a long
# batch) is delivered twice, which the ledger and the events' keys make harmless. RabbitMQ has no
# such timeout; on either broker the live page forgets a job a killed worker left "running" after it.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 300)
CELERY_RESULT_BACKEND = "hub.results:RetryingDatabaseBackend"  # django-db, through a PostgreSQL restart
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 5000  # the longest pause between tries
CELERY_RESULT_EXTENDED = True
# No celery.backend_cleanup: beat would send it to the default queue `celery`, which no worker here
# consumes (it would pile up in Redis). The hub prunes task results itself (notifications.prune).
CELERY_RESULT_EXPIRES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a batch is acknowledged once processed, not when received
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's scheduler behind a leader lock (hub.beat): a second beat stands by.
CELERY_BEAT_SCHEDULER = "hub.beat:LeaderScheduler"
# The leader lock's TTL, renewed every tick: a standby takes over this long after the leader dies.
HUB_BEAT_LOCK_SECONDS = env_float("HUB_BEAT_LOCK_SECONDS", 30.0)
# Write each entry's last_run_at as soon as it is sent, so a beat taking over repeats nothing.
CELERY_BEAT_SYNC_EVERY = 1

# A bucket check's lock TTL, renewed by the running check every third of it: a check that dies
# frees its bucket this long after (oss_watch.lock).
OSS_CHECK_LOCK_SECONDS = env_int("OSS_CHECK_LOCK_SECONDS", 60)
OSS_EVENTS_QUEUE = "oss:events"
JIRA_CREATE_QUEUE = "jira:create"
OSS_CHECK_QUEUE = "scheduler:oss-check"
MAINTENANCE_QUEUE = "scheduler:maintenance"
HUB_QUEUE_NAMES = [
    *(cdc_queue(env) for env in HUB_ENVIRONMENTS),
    OSS_EVENTS_QUEUE,
    JIRA_CREATE_QUEUE,
    DEAD_LETTER_QUEUE,
    OSS_CHECK_QUEUE,
    MAINTENANCE_QUEUE,
]


def broker_settings(url: str, queue_names: list[str], visibility_timeout: int) -> dict:
    """The settings that follow from the broker's kind (told by the URL's scheme): HUB_BROKER, the
    transport options (Redis: the visibility timeout; RabbitMQ: publisher confirms) and the
    queues, declared as the publisher declares cdc:<env> (cdc_publisher.brokers). A function, so
    that settings which change the URL (the tests') get the same."""
    try:
        kind = broker_kind(url)
    except UnsupportedBroker as exc:  # the URL itself is never shown: it may hold a password
        raise ImproperlyConfigured(f"CELERY_BROKER_URL: {exc}") from None
    values = {
        "HUB_BROKER": kind,
        "CELERY_BROKER_TRANSPORT_OPTIONS": transport_options(kind, visibility_timeout=visibility_timeout),
        "CELERY_TASK_QUEUES": [declare_queue(name, kind) for name in queue_names],
    }
    if kind == RABBITMQ:
        # A queue Celery makes up for a name none of these has (the default `celery`) is a quorum
        # queue too. Celery turns global QoS off by itself for quorum queues, which refuse it
        # (worker_detect_quorum_queues), and carries countdowns on them by its native delayed
        # delivery (celery_delayed_* exchanges and queues, declared by each worker at start).
        values.update(
            CELERY_TASK_DEFAULT_QUEUE_TYPE="quorum",
            CELERY_TASK_CREATE_MISSING_QUEUE_TYPE="quorum",
            CELERY_TASK_CREATE_MISSING_QUEUE_EXCHANGE_TYPE="topic",
        )
    return values


globals().update(broker_settings(CELERY_BROKER_URL, HUB_QUEUE_NAMES, CELERY_VISIBILITY_TIMEOUT))
# The CDC batch task is routed by its sender (the publisher names the environment's queue).
CELERY_TASK_ROUTES = {
    "jira_bridge.replay_dead_letter": {"queue": DEAD_LETTER_QUEUE},
    "jira_bridge.requeue_stalled": {"queue": MAINTENANCE_QUEUE},  # every 15 s: not among the creates
    "jira_bridge.*": {"queue": JIRA_CREATE_QUEUE},
    "oss_watch.check_bucket": {"queue": OSS_CHECK_QUEUE},
    "oss_watch.*": {"queue": OSS_EVENTS_QUEUE},
    "notifications.*": {"queue": MAINTENANCE_QUEUE},
}
# A create whose message is overdue by this many seconds is sent again by jira-requeue-stalled.
JIRA_REQUEUE_GRACE = env_float("JIRA_REQUEUE_GRACE", 30.0)
CELERY_BEAT_SCHEDULE = {
    "jira-requeue-stalled": {
        "task": "jira_bridge.requeue_stalled",
        "schedule": env_float("JIRA_REQUEUE_EVERY", 15.0),
    },
    # Maintenance expires after one interval: a worker that was down finds one run waiting, not a pile.
    "records-aggregate-daily-stats": {
        "task": "notifications.aggregate_daily_stats",
        "schedule": env_int("HUB_AGGREGATE_EVERY", 300),
        "options": {"expire_seconds": env_int("HUB_AGGREGATE_EVERY", 300)},
    },
    "records-prune": {
        "task": "notifications.prune",
        "schedule": env_int("HUB_PRUNE_EVERY", 3600),
        "options": {"expire_seconds": env_int("HUB_PRUNE_EVERY", 3600)},
    },
}
