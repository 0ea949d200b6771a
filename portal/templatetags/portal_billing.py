"""Money on the e-bill pages: ``{{ bill.amount|yuan }}`` → ¥1,234.50, the same in both languages
(Chinese writes amounts with the same separators), never rounded (amounts are Decimal, two places)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def yuan(value) -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"
