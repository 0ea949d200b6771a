"""Reads of e-billing. Citizens' and staff's reads start from grid.permissions.scope (a citizen sees
their own bills, subscriptions, payments and card; billing staff everything under their grant);
a provider's key reads only its provider's rows (``provider_for``)."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from grid.permissions import scope
from services.billing.models import (
    Bill,
    BillLine,
    Card,
    CardMovement,
    JournalLeg,
    Payment,
    PaymentBill,
    Provider,
    ReconciliationRun,
    Subscription,
    UtilityAccount,
)

__all__ = [
    "account_list",
    "bill_detail",
    "bill_list",
    "card_for",
    "card_movements",
    "journal_balance",
    "payment_get",
    "payment_list",
    "provider_bills",
    "provider_for",
    "provider_list",
    "provider_payments",
    "provider_subscriptions",
    "receipt_data",
    "reconciliation_report",
    "subscription_list",
]


def provider_list() -> QuerySet:
    return Provider.objects.filter(active=True).order_by("code")


def provider_for(key) -> Provider:
    """The provider a partner key acts for; Http404 when the key's partner is no provider."""
    provider = Provider.objects.filter(partner_id=key.partner_id, active=True).first() if key is not None else None
    if provider is None:
        raise Http404
    return provider


def subscription_list(*, user) -> QuerySet:
    return scope(Subscription.objects.all(), user).select_related("account__provider").order_by("-applied_at", "-id")


def account_list(*, user) -> QuerySet:
    """The accounts the citizen holds an active (or pending) subscription to."""
    return (UtilityAccount.objects.filter(subscriptions__in=subscription_list(user=user).filter(
        status__in=[Subscription.Status.ACTIVE, Subscription.Status.PENDING]))
        .select_related("provider").distinct().order_by("provider__code", "account_number"))


def bill_list(*, user, status: str | None = None, provider: str | None = None, account: str | None = None,
              period: date | None = None) -> QuerySet:
    bills = scope(Bill.objects.all(), user).select_related("provider", "account")
    if status:
        bills = bills.filter(status=status)
    if provider:
        bills = bills.filter(provider__code=provider)
    if account:
        bills = bills.filter(account__account_number=account)
    if period:
        bills = bills.filter(period=period)
    return bills.order_by("-period", "-id")


def bill_detail(*, user, pk: int) -> Bill:
    bill = (bill_list(user=user).filter(pk=pk)
            .prefetch_related(Prefetch("lines", queryset=BillLine.objects.order_by("position"))).first())
    if bill is None:
        raise Http404
    return bill


def payment_list(*, user) -> QuerySet:
    return (scope(Payment.objects.all(), user)
            .prefetch_related(Prefetch("items", queryset=PaymentBill.objects.order_by("bill_id")))
            .order_by("-created_at", "-id"))


def payment_get(*, user, pk: int) -> Payment:
    payment = payment_list(user=user).filter(pk=pk).first()
    if payment is None:
        raise Http404
    return payment


def card_for(*, user) -> Card | None:
    return scope(Card.objects.filter(holder=user), user).first()


def card_movements(*, card: Card) -> QuerySet:
    return CardMovement.objects.filter(card=card).order_by("-created_at", "-id")


def receipt_data(payment: Payment) -> dict:
    """What a receipt shows (the PDF, the portal): the payment and each bill it paid. Amounts are Decimal."""
    items = list(payment.items.select_related("bill__provider", "bill__account").order_by("bill_id"))
    return {
        "payment_id": payment.pk,
        "transaction_id": f"CIVIC-{payment.pk:010d}",
        "status": payment.status,
        "status_label": payment.get_status_display(),
        "method": payment.method,
        "method_label": payment.get_method_display(),
        "purpose": payment.purpose,
        "amount": payment.amount,
        "currency": payment.currency,
        "created_at": payment.created_at,
        "settled_at": payment.settled_at,
        "gateway_reference": payment.gateway_reference or "",
        "payer": payment.payer.get_full_name() or payment.payer.get_username(),
        "bills": [
            {
                "id": item.bill_id, "provider": item.bill.provider.name, "provider_code": item.bill.provider.code,
                "bill_number": item.bill.bill_number, "account_number": item.bill.account.account_number,
                "period": item.bill.period.strftime("%Y-%m"), "due_date": item.bill.due_date,
                "payment_reference": item.bill.payment_reference, "amount": item.amount,
            }
            for item in items
        ],
    }


#
# Providers' own rows (their keys)
#


def provider_bills(*, provider: Provider) -> QuerySet:
    return Bill.objects.filter(provider=provider).select_related("account").order_by("-id")


def provider_subscriptions(*, provider: Provider, status: str | None = None) -> QuerySet:
    """The applications for the provider's accounts, each with the amount of its account's latest bill
    (`last_amount`), against which a last-amount proof is checked."""
    last = (Bill.objects.filter(account=OuterRef("account")).exclude(status=Bill.Status.VOID)
            .order_by("-period", "-id").values("amount")[:1])
    subscriptions = (Subscription.objects.filter(account__provider=provider).select_related("account")
                     .annotate(last_amount=Subquery(last)))
    if status:
        subscriptions = subscriptions.filter(status=status)
    return subscriptions.order_by("applied_at", "id")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()), timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def provider_payments(*, provider: Provider, day: date) -> QuerySet:
    """Every paid bill of the provider whose payment succeeded on `day` (local time): for its reconciliation."""
    start, end = _day_bounds(day)
    return (PaymentBill.objects.filter(bill__provider=provider, payment__status=Payment.Status.SUCCEEDED,
                                       payment__settled_at__gte=start, payment__settled_at__lt=end)
            .select_related("payment", "bill__account").order_by("payment__settled_at", "id"))


#
# Ledger and reconciliation (billing staff)
#


def journal_balance(account: str) -> Decimal:
    """The sum of a ledger account's legs (debit positive)."""
    from django.db.models import Sum

    return JournalLeg.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")


def reconciliation_report(*, provider: Provider | None = None, day: date | None = None) -> QuerySet:
    runs = ReconciliationRun.objects.select_related("provider").prefetch_related("exceptions")
    if provider is not None:
        runs = runs.filter(provider=provider)
    if day is not None:
        runs = runs.filter(day=day)
    return runs.order_by("-day", "provider__code")
