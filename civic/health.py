"""/healthz: is the site able to serve, and what state are its services in."""

# The app config/celery.py creates becomes Celery's current app: civic needs no import from config.
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

__all__ = ["healthz"]


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and the reason is reported
        return {"ok": False, "error": str(exc)[:200]}


def _cache() -> dict:
    try:
        cache.set("civic:healthz", "1", 10)
        return {"ok": cache.get("civic:healthz") == "1"}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:200]}


def _celery() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager", "workers": 0}
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        replies = current_app.control.ping(timeout=1.0) or []
        return {"ok": bool(replies), "mode": "broker", "workers": len(replies)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "mode": "broker", "error": str(exc)[:200]}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database(), "cache": _cache(), "celery": _celery()}
    # Only the database decides whether we can serve: without workers, work queues up and waits.
    status = 200 if checks["database"]["ok"] else 503
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status)
