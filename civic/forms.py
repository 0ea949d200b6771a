"""What every front end's forms share: a service's errors put back onto the form that called it."""

from django import forms
from django.core.exceptions import ValidationError

__all__ = ["add_service_errors"]


def add_service_errors(form: forms.Form, exc: ValidationError, *, field_map: dict | None = None) -> None:
    """Put a service's ValidationError onto the form: each key on its field, unknown keys on the form."""
    field_map = field_map or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        field = field_map.get(key, key)
        form.add_error(field if field in form.fields else None, messages)
