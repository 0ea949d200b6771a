"""Celery tasks of the civic app."""

from celery import shared_task

__all__ = ["ping"]


@shared_task
def ping() -> str:
    """Answer "pong". It does nothing else: it exists to prove a worker round-trip (broker out,
    worker executes, result backend back), for health checks and the worker test."""
    return "pong"
