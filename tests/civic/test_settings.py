"""Settings come from the environment; each case runs in a fresh interpreter with a controlled one.

The pytest process has already imported settings with whatever the caller exported (DATABASE_URL,
REDIS_URL, ...), so defaults and start-up failures can only be observed in a subprocess.
"""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# Every variable config/settings.py reads, so the caller's environment cannot leak into a case.
SETTINGS_ENV = {
    "DJANGO_SETTINGS_MODULE", "DJANGO_READ_DOT_ENV_FILE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "CONN_MAX_AGE", "REDIS_URL", "LANGUAGE_CODE", "TIME_ZONE",
    "MEDIA_ROOT", "EMAIL_URL", "DEFAULT_FROM_EMAIL", "SMS_BACKEND", "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "CIVIC_REQUIRE_SERVICES", "LOG_LEVEL",
    "MAP_TILE_URL", "REPORT_GRID_TOLERANCE_M", "PROTECTED_MEDIA_SERVER", "PROTECTED_MEDIA_PREFIX",
    "CASE_DUPLICATE_RADIUS_M", "ID_NUMBER_HASH_KEY", "ID_NUMBER_CHANGES_PER_HOUR", "CODE_REQUESTS_PER_ADDRESS",
    "CODE_REQUESTS_PER_CLIENT", "CODE_REQUESTS_WINDOW_MINUTES", "STAFF_2FA_REQUIRED", "CASE_RETENTION_DAYS",
}  # fmt: skip

PRINT_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "CACHE": settings.CACHES["default"]["BACKEND"],
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "LANGUAGE_CODE": settings.LANGUAGE_CODE,
    "TIME_ZONE": settings.TIME_ZONE,
    "LANGUAGES": [code for code, _ in settings.LANGUAGES],
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def settings_with(**env: str) -> dict:
    proc = run(["-c", PRINT_SETTINGS], **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def random_secret_key(length: int = 60) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def test_check_deploy_is_clean_with_production_values():
    proc = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0",
        SECRET_KEY=random_secret_key(),
        ALLOWED_HOSTS="civic.example.org",
    )

    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output


def test_without_services_falls_back_to_sqlite_and_eager_celery():
    values = settings_with()

    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["CELERY_BROKER_URL"] == "memory://"


def test_with_services_uses_postgres_redis_and_a_broker():
    # Reading settings connects to nothing, so the hosts need not exist.
    values = settings_with(
        DATABASE_URL="postgres://u:p@db.invalid:5432/civic", REDIS_URL="redis://redis.invalid:6379/0"
    )

    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["CELERY_BROKER_URL"] == "redis://redis.invalid:6379/0"


def test_production_without_secret_key_refuses_to_start():
    proc = run(["manage.py", "check"], DEBUG="0")

    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr
    assert "SECRET_KEY must be set" in proc.stderr


def test_language_and_time_defaults():
    values = settings_with()

    assert values["LANGUAGE_CODE"] == "zh-hans"
    assert values["TIME_ZONE"] == "Asia/Shanghai"
    assert "en" in values["LANGUAGES"]
    assert "zh-hans" in values["LANGUAGES"]


def test_debug_off_is_https_only_by_default():
    values = settings_with(DEBUG="0", SECRET_KEY=random_secret_key())

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True


def test_docker_compose_environment_is_a_working_plain_http_setup():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app_env = {k: str(v) for k, v in compose["services"]["web"]["environment"].items()}
    for name in ("web", "worker", "beat"):
        assert compose["services"][name]["environment"] == compose["services"]["web"]["environment"], name

    values = settings_with(**app_env)

    assert values["DEBUG"] is False
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert "localhost" in values["ALLOWED_HOSTS"]
    # Served over plain http on localhost: no https redirect, cookies not restricted to https.
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    for service in compose["services"].values():
        assert "healthcheck" in service
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}
