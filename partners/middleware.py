"""The request log: every request made with a key (accepted or refused) becomes one ApiRequest row,
written after the response is ready. Requests without a key cost one attribute lookup here."""

import logging
import time

from django.db import DatabaseError

from partners.authentication import attached_key
from partners.services import api_request_record

__all__ = ["ApiRequestLogMiddleware"]

logger = logging.getLogger("partners.requests")


class ApiRequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        key = attached_key(request)
        if key is not None:
            try:
                api_request_record(
                    key=key, method=request.method, endpoint=request.path, status=response.status_code,
                    duration_ms=round((time.monotonic() - started) * 1000),
                )
            except DatabaseError:  # the answer is ready: a lost log row must not turn it into an error
                logger.exception("Could not log a request of API key %s", key.pk)
        return response
