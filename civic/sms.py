"""SMS delivery behind a small backend interface, chosen by the SMS_BACKEND setting."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

__all__ = ["BaseSmsBackend", "LoggingSmsBackend", "get_sms_backend", "send_sms"]

logger = logging.getLogger("civic.sms")


class BaseSmsBackend:
    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class LoggingSmsBackend(BaseSmsBackend):
    """Writes messages to the log: the default until a carrier gateway is configured."""

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", phone, text)


def get_sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def send_sms(phone: str, text: str) -> None:
    get_sms_backend().send(phone, text)
