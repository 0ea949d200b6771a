"""drf-spectacular schema class that documents the shared error shape on every operation: the errors any
request may meet (401, 403, 404, and 429 for a partner's key over its rate), those of writes (400, 409),
and 412 for an update whose If-Match no longer holds."""

from drf_spectacular.openapi import AutoSchema

from civic.api.errors import ErrorSerializer

__all__ = ["CivicAutoSchema"]

_READ_ERRORS = ("401", "403", "404", "429")
_WRITE_ERRORS = ("400", "401", "403", "404", "409", "429")
_UPDATE_ERRORS = (*_WRITE_ERRORS, "412")


class CivicAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if self.method in ("GET", "HEAD", "OPTIONS"):
            codes = _READ_ERRORS
        else:
            codes = _UPDATE_ERRORS if self.method in ("PUT", "PATCH") else _WRITE_ERRORS
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses
