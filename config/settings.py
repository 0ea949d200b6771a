"""Civic settings. Everything that differs between machines comes from the environment.

Without DATABASE_URL the project runs on a SQLite file; without REDIS_URL Celery runs tasks
eagerly and the cache is local memory, so a newcomer needs nothing but Python.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

# --- Core -------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug-" + "x" * 20
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "guardian",
    "treebeard",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "civic",
    "grid",
    "partners",
    "issues",
    "services.billing",
    "services.booking",
    "portal",
    "field",
    "centre",
    "open311",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so that the logged duration of a partner's request covers nearly all of its handling.
    "partners.middleware.ApiRequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A NUL in the path, the query or form data answers 400 (PostgreSQL refuses NUL in text).
    "civic.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Staff second factor: django-otp marks a session that gave its code; ours keeps the staff areas
    # (STAFF_2FA_AREAS) closed to one that has not, for those who need it.
    "django_otp.middleware.OTPMiddleware",
    "civic.twofactor.middleware.SecondFactorMiddleware",
    # Writes the request's views of unmasked ID numbers to the audit log, one row per kind.
    "civic.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login attempt into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "civic.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections only where the number of threads holding one is bounded: gunicorn's workers
# (times their threads) and Celery's pool processes, whose Django fixup closes a connection after a task
# once it is older than this. Django's dev server starts a thread per client connection and never closes
# a thread's connection: there it is 0, whatever the environment says (README, "Configuration").
DATABASES["default"]["CONN_MAX_AGE"] = 0 if sys.argv[1:2] == ["runserver"] else env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A streaming replica of default: the command centre's figures and the exports read there (civic.replica).
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].update(CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"], CONN_HEALTH_CHECKS=True,
                                TEST={"MIRROR": "default"})
DATABASE_ROUTERS = ["civic.replica.ReplicaRouter"]

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without a broker there is no worker either: run tasks in the caller so nothing waits forever.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 5 * 60
# Redis re-delivers unacked tasks after this long; it must outlast the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT}
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks, all in one place (beat copies them into django-celery-beat's tables at start-up).
CELERY_BEAT_SCHEDULE = {
    # Notices whose delivery task was lost (broker down at commit) get re-enqueued, stuck ones reported.
    "retry-pending-notices": {"task": "civic.tasks.retry_pending_notices", "schedule": timedelta(minutes=5)},
    # The overdue sweep (issues.sweep): every minute (https://crontab.guru/#*_*_*_*_*), so a case moves up
    # within a minute of its deadline. A tick not started within 50 s is dropped: the next one does its work.
    "escalate-overdue-cases": {
        "task": "issues.tasks.escalate_overdue_cases", "schedule": crontab(minute="*"), "options": {"expires": 50},
    },
    # Retention (issues.retention): every night at 03:30, the personal data of cases over for
    # CASE_RETENTION_DAYS goes. A night missed is caught up by the next one.
    "anonymise-closed-cases": {
        "task": "issues.tasks.anonymise_closed_cases", "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 6 * 3600},
    },
}

# Partners' request log (partners.ApiRequest) keeps this many days (pruned daily).
CELERY_BEAT_SCHEDULE["prune-api-requests"] = {
    "task": "partners.tasks.prune_api_requests", "schedule": crontab(hour=3, minute=17),
}
API_REQUEST_LOG_DAYS = env.int("API_REQUEST_LOG_DAYS", default=90)
# Partners' webhooks (partners.webhooks, partners.delivery): deliveries that are due and whose task is
# late or lost are enqueued every minute; sends stuck for WEBHOOK_SENDING_TIMEOUT are sent again.
CELERY_BEAT_SCHEDULE["dispatch-webhooks"] = {
    "task": "partners.tasks.dispatch_webhooks", "schedule": timedelta(minutes=1), "options": {"expires": 50},
}
# Private and loopback addresses a webhook may still be sent to (host names or addresses), e.g. a
# receiver on the city's own network.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)  # seconds to connect and to wait for the answer
# 15 attempts, 30 s doubling up to 6 h apart: the last one 32.5 hours after the first, so a
# receiver down for a day still gets every event.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=15)
WEBHOOK_RETRY_BASE = timedelta(seconds=30)
WEBHOOK_RETRY_MAX = timedelta(hours=6)
WEBHOOK_SENDING_TIMEOUT = timedelta(minutes=5)
WEBHOOK_DISPATCH_LEASE = timedelta(minutes=10)

# E-billing (services.billing.tasks). Idempotency keys are kept 24 h, then purged hourly; gateway payments
# pending for 15 min become unknown and unknown ones are asked about again every 5 min; overdue bills
# and due-in-3-days notices each morning; yesterday's reconciliation per provider at 02:10.
CELERY_BEAT_SCHEDULE.update({
    "billing-purge-idempotency": {"task": "services.billing.tasks.purge_idempotency_records",
                                  "schedule": crontab(minute=7)},
    "billing-requery-unknown-payments": {"task": "services.billing.tasks.requery_unknown_payments",
                                         "schedule": timedelta(minutes=5), "options": {"expires": 240}},
    "billing-mark-overdue": {"task": "services.billing.tasks.mark_overdue_bills",
                             "schedule": crontab(hour=0, minute=20)},
    "billing-due-soon": {"task": "services.billing.tasks.notify_bills_due_soon",
                         "schedule": crontab(hour=9, minute=0)},
    "billing-reconcile": {"task": "services.billing.tasks.reconcile_providers",
                          "schedule": crontab(hour=2, minute=10)},
})
# The simulated payment gateway's callback signing secret (services.billing.gateway); empty: derived
# from SECRET_KEY.
BILLING_GATEWAY_SECRET = env("BILLING_GATEWAY_SECRET", default="")

# Notices (civic.notices): delivery attempts per e-mail/SMS notice before it is marked failed, and
# how long one may stay "sending" before the sweep reports it failed (its worker died mid-send).
NOTICE_MAX_ATTEMPTS = 5
# E-mail and SMS notices handed to the workers per message (civic.notices.deliver_after_commit).
NOTICE_BATCH = 500
NOTICE_SENDING_TIMEOUT = timedelta(minutes=15)

# --- Auth -------------------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    # First: refuses locked-out logins (django-axes' AxesStandaloneBackend; lets request-less calls through).
    "portal.accounts.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Citizens log in with their phone number or e-mail.
    "portal.accounts.backends.PhoneOrEmailBackend",
    # Object checks answer from the grid's subtree grants (guardian stores them, we interpret them).
    "grid.backends.GridPermissionBackend",
]
# Guardian finds the direct-FK grant tables of GridNode by itself; no anonymous user is needed.
ANONYMOUS_USER_NAME = None
# guardian.W001 asks for guardian's own backend, which checks grants on exactly one object;
# GridPermissionBackend above reads the same grants as covering whole subtrees instead.
# axes.W006 asks to lock by IP address too: behind carrier-grade NAT or an unconfigured proxy, one IP is
# many citizens, so we lock per account only (AXES_LOCKOUT_PARAMETERS below).
SILENCED_SYSTEM_CHECKS = ["guardian.W001", "axes.W006"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:home"
# django-axes: 5 failed logins for one account lock it for 15 minutes (admin, portal and API token).
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "portal.accounts.backends.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/accounts/locked_out.html"

# --- Language and time ------------------------------------------------------------------------

LANGUAGE_CODE = env("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Uploads (case photos) are never served from MEDIA_URL: only views that check access send them
# (civic.protected_media). PROTECTED_MEDIA_SERVER lets the web server in front send the bytes:
# "nginx" (X-Accel-Redirect to PROTECTED_MEDIA_PREFIX, an internal location aliased to MEDIA_ROOT),
# "apache" (X-Sendfile with the file's path), or "" (Django streams the file).
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
PROTECTED_MEDIA_SERVER = env("PROTECTED_MEDIA_SERVER", default="")
if PROTECTED_MEDIA_SERVER not in ("", "nginx", "apache"):
    raise ImproperlyConfigured('PROTECTED_MEDIA_SERVER must be "nginx", "apache" or empty.')
PROTECTED_MEDIA_PREFIX = env("PROTECTED_MEDIA_PREFIX", default="/protected-media/").rstrip("/") + "/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Messages out -----------------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Civic <noreply@civic.local>")
SMS_BACKEND = env("SMS_BACKEND", default="civic.sms.LoggingSmsBackend")

# --- API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes a missing login a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        # Partners' keys: Authorization: Api-Key <key> (partners.authentication).
        "partners.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # ApiKeyScope: a request made with a key needs the scope the view names (required_scope).
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "partners.permissions.ApiKeyScope"],
    # Per key, in the cache; requests without a key are not throttled here.
    "DEFAULT_THROTTLE_CLASSES": ["partners.throttling.ApiKeyRateThrottle"],
    # DRF's parsers, refusing JSON nested deeper than JSON_MAX_DEPTH and NUL characters with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "civic.api.parsers.JSONParser",
        "civic.api.parsers.FormParser",
        "civic.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "civic.api.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "civic.api.schema.CivicAutoSchema",
    "EXCEPTION_HANDLER": "civic.api.errors.exception_handler",
}
# Partners' API keys (partners.keys): stored as HMAC-SHA256 with this secret (changing it invalidates
# every key), and limited to this many requests per period unless a key has its own rate.
API_KEY_SECRET = env("API_KEY_SECRET", default=SECRET_KEY)
API_KEY_DEFAULT_RATE = env("API_KEY_DEFAULT_RATE", default="600/min")
# Arrays and objects nested deeper than this in a request body are refused (civic.inputs): the deepest
# thing Civic reads is a request body holding a GeoJSON MultiPolygon (6 levels).
JSON_MAX_DEPTH = 32
SPECTACULAR_SETTINGS = {
    "TITLE": "Civic API",
    "DESCRIPTION": "Grid-based city operations: the grid tree, posts, registry, cases and services.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from our own static files: the machines have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets sharing a field name with another get a name of their own (cases keep StatusEnum).
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "issues.models.Status",
        "WebhookDeliveryStatusEnum": "partners.models.WebhookDelivery.Status",
    },
}

# --- Open311 GeoReport v2 (open311) ----------------------------------------------------------

# One jurisdiction: a jurisdiction_id sent must be this one (404 otherwise); none at all is fine.
OPEN311_JURISDICTION_ID = env("OPEN311_JURISDICTION_ID", default="xincheng.huhhot.gov.cn")
OPEN311_CONTACT = env("OPEN311_CONTACT", default="新城区大数据管理局 Xincheng District data office, 12345")
OPEN311_KEY_SERVICE = env(
    "OPEN311_KEY_SERVICE", default="Ask the district data office for a partner API key with the open311 scope.",
)

# --- Security (secure by default whenever DEBUG is off) ---------------------------------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Tests and operations ---------------------------------------------------------------------

# With this set, a test that needs PostgreSQL or Redis fails instead of skipping when absent.
CIVIC_REQUIRE_SERVICES = env.bool("CIVIC_REQUIRE_SERVICES", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- Working calendar and case photos (civic.workcal, civic.images) ---------------------------

# The working periods of a working day, local time (TIME_ZONE): deadlines count only these.
WORKING_HOURS = (((9, 0), (12, 0)), ((13, 30), (17, 30)))
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # uploads above this are refused before being read
PHOTO_MAX_PIXELS = 40_000_000  # decompression-bomb guard, checked from the image header
PHOTO_DISPLAY_SIZE = 1280  # the display copy's long side, in pixels
# A report that names its grid and gives a point: how far outside the grid the point may lie (metres).
# A phone's GPS fix is often 10-30 m off, so a worker standing at the edge of their grid may read as
# just across it; further out, the point is in someone else's grid and the report is refused.
REPORT_GRID_TOLERANCE_M = env.float("REPORT_GRID_TOLERANCE_M", default=50.0)
# While reporting, open cases of the same category within this distance are offered as possible duplicates.
CASE_DUPLICATE_RADIUS_M = env.int("CASE_DUPLICATE_RADIUS_M", default=200)

# --- Residents' data and account security ------------------------------------------------------

# The key of the ID-number look-up hash (grid.idnumbers.id_number_hash). Without it, a key derived from
# SECRET_KEY; set it apart so that SECRET_KEY can be rotated, and run `manage.py rehash_id_numbers` after
# changing either.
ID_NUMBER_HASH_KEY = env("ID_NUMBER_HASH_KEY", default="") or SECRET_KEY
# ID numbers one user may set or change per hour (new residents included), whatever the outcome.
ID_NUMBER_CHANGES_PER_HOUR = env.int("ID_NUMBER_CHANGES_PER_HOUR", default=60)
# One-time codes (sign-up, resend, phone password reset): requests per phone number or e-mail address,
# and per client address, within the window. Behind carrier-grade NAT many citizens share an address.
CODE_REQUESTS_PER_ADDRESS = env.int("CODE_REQUESTS_PER_ADDRESS", default=3)
CODE_REQUESTS_PER_CLIENT = env.int("CODE_REQUESTS_PER_CLIENT", default=3)
CODE_REQUESTS_WINDOW = timedelta(minutes=env.int("CODE_REQUESTS_WINDOW_MINUTES", default=15))

# Days a case that is over (closed, rejected, a duplicate) keeps its reporter, free text and original
# photos after its last change; then the nightly retention task removes them (issues.retention).
CASE_RETENTION_DAYS = env.int("CASE_RETENTION_DAYS", default=730)

# Staff two-factor authentication (civic.twofactor): with this on, superusers and staff posted at a
# street office or above must give a code from an authenticator app (or a recovery code) after their
# password; anyone who set one up is asked for it anyway. Off by default: the demo accounts log in with
# their password alone.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=False)
# Where it is asked for: path prefix → the area's code page (None: the API, where such a session is
# simply not signed in; token clients send the code with the password).
STAFF_2FA_AREAS = {"/admin/": "admin_2fa", "/field/": "field:2fa", "/api/": None}
OTP_TOTP_ISSUER = "Civic"

# --- Command centre (centre) -------------------------------------------------------------------

# Exports of up to this many cases are built in the request; larger ones by a Celery worker (202, then a link).
CENTRE_EXPORT_INLINE_ROWS = env.int("CENTRE_EXPORT_INLINE_ROWS", default=5000)
# Open cases drawn on the centre's map at most (the nearest-to-due first); the page says when there are more.
CENTRE_MAP_CASES = env.int("CENTRE_MAP_CASES", default=5000)

# --- Portal maps (portal.cases) -----------------------------------------------------------------

# Leaflet tile URL template; the report page still works (number inputs) when tiles cannot load.
MAP_TILE_URL = env("MAP_TILE_URL", default="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png")

# --- Appointment booking (services.booking) -----------------------------------------------------

BOOKING_HOLD_MINUTES = env.int("BOOKING_HOLD_MINUTES", default=5)  # a held place waits this long for confirm
# Citizens may cancel or reschedule until this many hours before the start (0: until the start); staff always.
BOOKING_CANCEL_CUTOFF_HOURS = env.int("BOOKING_CANCEL_CUTOFF_HOURS", default=2)
# N no-shows within M days block online booking for BLOCK_DAYS (staff may lift the block).
BOOKING_NO_SHOW_LIMIT = env.int("BOOKING_NO_SHOW_LIMIT", default=3)
BOOKING_NO_SHOW_WINDOW_DAYS = env.int("BOOKING_NO_SHOW_WINDOW_DAYS", default=90)
BOOKING_BLOCK_DAYS = env.int("BOOKING_BLOCK_DAYS", default=30)
# A booking not checked in this many minutes after its slot ended becomes a no-show (beat task).
BOOKING_NO_SHOW_AFTER_MINUTES = env.int("BOOKING_NO_SHOW_AFTER_MINUTES", default=60)
BOOKING_WAITLIST_OFFER_MINUTES = env.int("BOOKING_WAITLIST_OFFER_MINUTES", default=30)  # an offered place's hold
BOOKING_SUGGESTIONS = 5  # free slots suggested when the one asked for is full
BOOKING_HORIZON_DAYS = env.int("BOOKING_HORIZON_DAYS", default=14)  # working days of slots generated ahead
BOOKING_FOLLOW_UP_LEAD_DAYS = 7  # a follow-up appointment is booked this many days before it is due
BOOKING_VISIT_BILL_DUE_DAYS = env.int("BOOKING_VISIT_BILL_DUE_DAYS", default=15)
CELERY_BEAT_SCHEDULE.update({
    # Each scans what is due, so a missed tick is caught up by the next (no far-future ETA tasks).
    "booking-expire-holds": {"task": "services.booking.tasks.expire_holds", "schedule": timedelta(minutes=1),
                             "options": {"expires": 50}},
    "booking-send-reminders": {"task": "services.booking.tasks.send_reminders", "schedule": timedelta(minutes=5),
                               "options": {"expires": 240}},
    "booking-mark-no-shows": {"task": "services.booking.tasks.mark_no_shows", "schedule": timedelta(minutes=15),
                              "options": {"expires": 600}},
    "booking-follow-ups": {"task": "services.booking.tasks.schedule_follow_ups", "schedule": crontab(hour=6, minute=5),
                           "options": {"expires": 6 * 3600}},
    "booking-generate-slots": {"task": "services.booking.tasks.generate_slots", "schedule": crontab(hour=2, minute=45),
                               "options": {"expires": 6 * 3600}},
})
# The schema's names of booking's status choices (apart from the cases' and billing's "status").
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "BookingStatusEnum": "services.booking.models.BookingStatus",
    "WaitlistStatusEnum": "services.booking.models.WaitlistStatus",
})
