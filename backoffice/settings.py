"""Settings, read from the environment (and from a `.env` file when there is one).

The names are a contract (see README, "Configuration"). Production (DEBUG off) refuses to
start when a secret it needs is missing, rather than running with a default; the commands
that read only the code and its migrations need none, and run from a bare checkout.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# `manage.py makemigrations --check` and the like sign nothing and call no provider. Without a
# SECRET_KEY, anything that signs would still fail: Django refuses an empty one when it is used.
CODE_ONLY_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}
_code_only = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] != [] and sys.argv[1] in CODE_ONLY_COMMANDS
SECRET_KEY = env.str("SECRET_KEY", default="") if _code_only else env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes every transaction take SQLite's write lock at BEGIN, the nearest thing
    # SQLite has to the row locks the payment services rely on in PostgreSQL.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's Memoize sizes its cache by a join's estimated rows (millions), not by the
    # fifty a page reads: setting it up, up to work_mem of hash table, cost a list of newest
    # operations or events 5 to 25 ms for nothing (README, "Performance").
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c enable_memoize=off".strip()
    # A database that does not answer fails a request (and /healthz, with 503) in seconds,
    # rather than hold it until gunicorn's timeout. `?connect_timeout=N` in DATABASE_URL wins.
    _options.setdefault("connect_timeout", 5)

INSTALLED_APPS = [
    "backoffice.apps.AuditAdminConfig",  # django.contrib.admin, for auditors only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "payments",
    "backoffice.apps.BackofficeConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "backoffice.middleware.AuditActorMiddleware",
    "backoffice.middleware.HostileInputMiddleware",
    "backoffice.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "backoffice.middleware.SessionIdleTimeoutMiddleware",
    "backoffice.middleware.MoneyLocaleMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

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
                "backoffice.context_processors.acting",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses logins while a username or address is locked out after failures.
    "axes.backends.AxesStandaloneBackend",
    "backoffice.auth.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Oslo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
# Seconds the task worker waits for the mail server, rather than for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="backoffice@localhost")
# The address in links sent by email (approval requests), e.g. https://backoffice.example.com
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# Security ---------------------------------------------------------------------------------

# A session ends after this many minutes without a request.
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# Failed logins slow down the next ones (django-axes; backoffice/login_throttle.py): after
# LOGIN_FAILURE_LIMIT failures for a username, each further try waits 1 s, 2 s, 4 s ... up to
# LOGIN_DELAY_MAX_SECONDS; LOGIN_ADDRESS_FAILURE_LIMIT failures from one address lock that
# address out for LOGIN_LOCKOUT_MINUTES. Each try already costs a slow password hash.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_DELAY_MAX_SECONDS = env.int("LOGIN_DELAY_MAX_SECONDS", default=60)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
AXES_HANDLER = "backoffice.login_throttle.ProgressiveDelayHandler"
AXES_LOCKOUT_CALLABLE = "backoffice.login_throttle.wait_page"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
# How long failures are remembered after the last one, and an address stays locked out.
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # the order login_throttle reads them in
AXES_RESET_ON_SUCCESS = True
# A try refused while waiting is not one more failure: hammering does not lengthen the wait.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and X-Forwarded-For), say so.
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front of the app append to X-Forwarded-For: the client's address is the
# one the outermost of them saw. 0: the connection's own address (REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1 if BEHIND_TLS_PROXY else 0)
# The one function that says who a request came from, for axes and the audit log alike.
AXES_CLIENT_IP_CALLABLE = "payments.services.audit.client_ip"

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
# Pages put the CSRF token where htmx reads it; scripts never need the cookie.
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# Money and refunds ------------------------------------------------------------------------

# The locale amounts are written and typed in, for people who have not chosen their own;
# digits always follow the currency's exponent.
MONEY_LOCALE = env.str("MONEY_LOCALE", default="en")
# Major units per currency; a refund that brings a payment's refunds above the limit needs a
# manager's approval. A currency without an entry always needs approval.
REFUND_APPROVAL_LIMITS = env.dict(
    "REFUND_APPROVAL_LIMITS",
    default={
        "EUR": "500",
        "NOK": "5000",
        "SEK": "5000",
        "DKK": "3500",
        "USD": "500",
        "AUD": "800",
        "GBP": "400",
    },
)
REFUND_APPROVAL_EXPIRY_DAYS = env.int("REFUND_APPROVAL_EXPIRY_DAYS", default=7)
# An account created, activated, given a password or made an approver less than this long ago
# approves nothing yet, whoever changed it (payments.selectors.approval_conflict).
APPROVAL_COOLING_OFF_HOURS = env.float("APPROVAL_COOLING_OFF_HOURS", default=24)
# A search reads at most this many entries of a name's or an email's term stream before it turns
# to the trigram and prefix indexes (payments.search_terms).
SEARCH_STREAM_WINDOW = 20000

# Providers --------------------------------------------------------------------------------

# Seconds one call to a provider may take in all: connecting, every read of its answer, a token
# fetch and the one retry after a refused token (payments.providers.http enforces it).
PROVIDER_TIMEOUT = env.float("PROVIDER_TIMEOUT", default=10.0)
# Seconds after a call's deadline before reconciliation takes an operation still in flight for
# abandoned (the process that sent it stopped).
RECONCILE_IN_FLIGHT_MARGIN = env.float("RECONCILE_IN_FLIGHT_MARGIN", default=30.0)
# An operation whose outcome no check with the provider can prove needs a person after this
# many checks, or this many hours after its call (a pending one after the hours only).
NEEDS_PERSON_AFTER_CHECKS = env.int("NEEDS_PERSON_AFTER_CHECKS", default=6)
NEEDS_PERSON_AFTER_HOURS = env.float("NEEDS_PERSON_AFTER_HOURS", default=24.0)
# Codes of the providers this merchant uses; production needs credentials for each of them.
PAYMENT_PROVIDERS = env.list("PAYMENT_PROVIDERS", default=["bambora", "optty", "simpleps", "vipps"])

PROVIDERS = {
    "bambora": {
        "api_url": env.str("BAMBORA_API_URL", default="https://api-beta.bambora.com"),
        "merchant_number": env.str("BAMBORA_MERCHANT_NUMBER", default=""),
        "merchant_token": env.str("BAMBORA_MERCHANT_TOKEN", default=""),
        "merchant_secret": env.str("BAMBORA_MERCHANT_SECRET", default=""),
    },
    "optty": {
        "api_url": env.str("OPTTY_API_URL", default="https://api.qa.optty.com"),
        "auth_url": env.str("OPTTY_AUTH_URL", default="https://auth.qa.optty.com"),
        "client_id": env.str("OPTTY_CLIENT_ID", default=""),
        "client_secret": env.str("OPTTY_CLIENT_SECRET", default=""),
        # Optty's refund call asks whether the BNPL provider was activated through OAuth (or
        # an API key and password): Optty's onboarding says which.
        "activated_via_oauth": env.bool("OPTTY_ACTIVATED_VIA_OAUTH", default=False),
    },
    "simpleps": {
        "api_url": env.str("SIMPLEPS_API_URL", default="https://sandbox-gw.simpleps.com"),
        "client_id": env.str("SIMPLEPS_CLIENT_ID", default=""),
        "secret_id": env.str("SIMPLEPS_SECRET_ID", default=""),
    },
    "vipps": {
        "api_url": env.str("VIPPS_API_URL", default="https://apitest.vipps.no"),
        "client_id": env.str("VIPPS_CLIENT_ID", default=""),
        "client_secret": env.str("VIPPS_CLIENT_SECRET", default=""),
        "subscription_key": env.str("VIPPS_SUBSCRIPTION_KEY", default=""),
        "merchant_serial_number": env.str("VIPPS_MERCHANT_SERIAL_NUMBER", default=""),
        "system_name": "merchant-backoffice",
        "system_version": "0.1.0",
    },
}

# Secrets the providers' notifications are verified with (README, "Registering the webhooks");
# empty: that provider's notifications are refused.
VIPPS_WEBHOOK_SECRET = env.str("VIPPS_WEBHOOK_SECRET", default="")
SIMPLEPS_WEBHOOK_SECRET = env.str("SIMPLEPS_WEBHOOK_SECRET", default="")
OPTTY_WEBHOOK_SECRET = env.str("OPTTY_WEBHOOK_SECRET", default="")
# Refused notifications kept per source address and minute (their size, hash and a few
# headers, never the body); beyond, they are refused alike but not kept.
REFUSED_NOTIFICATIONS_PER_MINUTE = env.int("REFUSED_NOTIFICATIONS_PER_MINUTE", default=10)

# Background work (README, "Background work") --------------------------------------------

# "database": the queue is a table of this database, worked by `manage.py worker` (nothing more
# to run). "rq": Redis through RQ (pip install '.[rq]', REDIS_URL), worked by the same command.
TASK_BACKEND = env.str("TASK_BACKEND", default="database")
if TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")}}
elif TASK_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
else:
    raise ImproperlyConfigured(f"TASK_BACKEND is {TASK_BACKEND!r}: use database or rq.")
# A worker writes that it is alive every WORKER_HEARTBEAT_SECONDS; one unheard of for
# WORKER_LOST_SECONDS is gone (killed, its machine lost), and the tasks it had begun are run
# again by another. /readyz reports not ready while no worker has been heard within that time.
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=10.0)
WORKER_LOST_SECONDS = env.float("WORKER_LOST_SECONDS", default=60.0)

# Exports: files kept in the storage "exports" (local files in EXPORTS_ROOT unless
# EXPORTS_STORAGE_BACKEND names another Django storage, with EXPORTS_STORAGE_OPTIONS as JSON),
# deleted EXPORT_EXPIRY_HOURS after they are made.
EXPORTS_ROOT = env.path("EXPORTS_ROOT", default=BASE_DIR / "exports")
STORAGES["exports"] = {
    "BACKEND": env.str("EXPORTS_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
    "OPTIONS": env.json("EXPORTS_STORAGE_OPTIONS", default={"location": str(EXPORTS_ROOT)}),
}
EXPORT_EXPIRY_HOURS = env.int("EXPORT_EXPIRY_HOURS", default=72)

# Metrics for Prometheus at /metrics (README, "Metrics"), off unless METRICS_ENABLED; with
# METRICS_TOKEN set, only a scrape that sends it as a Bearer token is answered.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_ENABLED:
    INSTALLED_APPS += ["django_prometheus"]
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]

# Logging: one line per event, key=value, secrets never included (see payments.providers.http).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # The secret in Optty's webhook URL never reaches a log (backoffice/log_filters.py).
        "mask_url_secrets": {"()": "backoffice.log_filters.MaskUrlSecrets"},
        # A refused request (403, 404 ...) in one line, without the traceback Django adds.
        "client_errors_without_traceback": {"()": "backoffice.log_filters.ClientErrorsWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_url_secrets", "client_errors_without_traceback"],
        },
        # runserver's request lines, as Django logs them by default.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["mask_url_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Without the handlers Django gives it (a console printing in DEBUG, and mail_admins,
        # which sends nothing without ADMINS): each of Django's records is written once, by
        # the root's console and its filters.
        "django": {"handlers": [], "level": LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
        # "Not Found: <path>" and the like: masked where they are made, before any handler
        # sees them.
        "django.request": {"filters": ["mask_url_secrets"]},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["mask_url_secrets"],
        },
        # django-axes logs every login at INFO; failures and lockouts are in the audit log.
        "axes": {"level": "WARNING"},
    },
}
# gunicorn sets up its own loggers before Django starts, so they are not configured here:
# serve with `--logger-class backoffice.log_filters.GunicornLogger` to mask its logs too.


def _missing_production_settings():
    missing = []
    if not ALLOWED_HOSTS:
        missing.append("ALLOWED_HOSTS")
    env_names = {
        "bambora": ["BAMBORA_MERCHANT_NUMBER", "BAMBORA_MERCHANT_TOKEN", "BAMBORA_MERCHANT_SECRET"],
        "optty": ["OPTTY_CLIENT_ID", "OPTTY_CLIENT_SECRET"],
        "simpleps": ["SIMPLEPS_CLIENT_ID", "SIMPLEPS_SECRET_ID"],
        "vipps": [
            "VIPPS_CLIENT_ID",
            "VIPPS_CLIENT_SECRET",
            "VIPPS_SUBSCRIPTION_KEY",
            "VIPPS_MERCHANT_SERIAL_NUMBER",
        ],
    }
    for code in PAYMENT_PROVIDERS:
        if code not in env_names:
            raise ImproperlyConfigured(
                f"PAYMENT_PROVIDERS names {code!r}; known providers are {', '.join(env_names)}."
            )
        missing += [name for name in env_names[code] if not env.str(name, default="")]
    return missing


if not DEBUG and not _code_only and (missing := _missing_production_settings()):
    raise ImproperlyConfigured(
        "Missing settings for production (DEBUG is off): "
        + ", ".join(missing)
        + ". Set them in the environment or in .env; see README, Configuration."
    )
