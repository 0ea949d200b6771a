"""drf-spectacular schema class that documents the shared error shape on every operation."""

from drf_spectacular.openapi import AutoSchema

from civic.api.errors import ErrorSerializer

__all__ = ["CivicAutoSchema"]

_READ_ERRORS = ("401", "403", "404")
_WRITE_ERRORS = ("400", "401", "403", "404", "409")


class CivicAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        codes = _READ_ERRORS if self.method in ("GET", "HEAD", "OPTIONS") else _WRITE_ERRORS
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses
