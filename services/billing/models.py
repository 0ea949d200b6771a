"""Utility e-billing: providers, their customers' accounts, citizens' subscriptions to e-bills, the
bills, their payments (from the city's one-card or through the payment gateway) and the double-entry
journal every yuan moves through.

The guarantees live in the database, not in Python checks:

* a bill number is unique per provider, an amount is never negative, a bill is never paid beyond its
  amount (``Bill.amount_paid <= amount``);
* a bill has at most one payment that holds it (pending, unknown or succeeded): a partial unique index
  on ``PaymentBill(bill) WHERE holds`` — of fifty concurrent payments of one bill, one wins;
* a one-card balance is never below zero (``CHECK balance >= 0``);
* every journal entry's legs sum to zero (a deferred constraint trigger on PostgreSQL), and journal
  rows are append-only (triggers refuse UPDATE and DELETE): corrections are reversing entries.

Rows a grant may cover carry ``grid_path``: the grid node of the account when known, else the city's
root, so a grant on the root (the billing staff's) covers every row; citizens see their own rows by
owner (grid.permissions owner rules); provider keys see their provider's rows (selectors).
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civic.idempotency import AbstractIdempotencyRecord
from grid.fields import GridPathField
from grid.models import GridNode

__all__ = [
    "Bill",
    "BillLine",
    "Card",
    "CardMovement",
    "GatewayCharge",
    "IdempotencyRecord",
    "JournalEntry",
    "JournalLeg",
    "Payment",
    "PaymentBill",
    "Provider",
    "ReconciliationException",
    "ReconciliationRun",
    "Subscription",
    "UtilityAccount",
]

MONEY = {"max_digits": 12, "decimal_places": 2}
ZERO = Decimal("0.00")


class Provider(models.Model):
    """A utility (or a hospital whose visit bills land here) that issues bills."""

    class Kind(models.TextChoices):
        ELECTRICITY = "electricity", _("electricity")
        TELECOM = "telecom", _("China Telecom")
        MOBILE = "mobile", _("China Mobile")
        UNICOM = "unicom", _("China Unicom")
        CABLE_TV = "cable_tv", _("cable TV")
        WATER = "water", _("water")
        GAS = "gas", _("gas")
        HEALTH = "health", _("health (visit bills)")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    allows_partial_payment = models.BooleanField(
        _("allows partial payment"), default=False,
        help_text=_("Bank practice is no: a bill is paid in full or not at all."),
    )
    # The partner whose API keys (scope billing.provider) act for this provider.
    partner = models.OneToOneField(
        "partners.Partner", verbose_name=_("partner"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="billing_provider",
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["code"]

    def __str__(self):
        return self.name


class UtilityAccount(models.Model):
    """A customer account at a provider (a meter, a phone line)."""

    provider = models.ForeignKey(Provider, verbose_name=_("provider"), on_delete=models.PROTECT,
                                 related_name="accounts")
    account_number = models.CharField(_("account number"), max_length=64)
    holder_name = models.CharField(_("holder name"), max_length=100)
    address = models.CharField(_("address"), max_length=255, blank=True)
    grid = models.ForeignKey(GridNode, verbose_name=_("grid"), on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+")
    grid_path = GridPathField(_("grid path"), max_length=255, db_index=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("utility account")
        verbose_name_plural = _("utility accounts")
        ordering = ["provider", "account_number"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "account_number"], name="billing_account_number_unique"),
        ]

    def __str__(self):
        return f"{self.provider_id and self.provider.code} {self.account_number}"


class Subscription(models.Model):
    """A citizen's application for an account's e-bills: pending until the provider (or billing staff)
    confirms the proof of ownership. Cancelling keeps the row (and the bills seen through it)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        ACTIVE = "active", _("active")
        REJECTED = "rejected", _("rejected")
        CANCELLED = "cancelled", _("cancelled")

    class Proof(models.TextChoices):
        LAST_AMOUNT = "last_amount", _("amount of the last bill")
        CODE = "code", _("code sent by the provider")

    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("citizen"), on_delete=models.PROTECT,
                                related_name="billing_subscriptions")
    account = models.ForeignKey(UtilityAccount, verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="subscriptions")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    proof_method = models.CharField(_("proof of ownership"), max_length=12, choices=Proof.choices)
    proof_value = models.CharField(_("proof given"), max_length=64)
    # Notice channels (civic.models.Notice.Channel values) the citizen wants this account's notices on.
    channels = models.JSONField(_("channels"), default=list)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    applied_at = models.DateTimeField(_("applied at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-applied_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["citizen", "account"], condition=Q(status__in=["pending", "active"]),
                name="billing_subscription_one_open",
            ),
        ]
        indexes = [models.Index(fields=["account", "status"], name="billing_subscription_account")]

    def __str__(self):
        return f"{self.account} → {self.citizen_id} ({self.status})"


class Bill(models.Model):
    """One bill as the provider issued it. Never edited once a citizen may have seen it: the same push
    again changes nothing (``content_hash``), other content under its number is refused, and a
    correction is a new bill (``supersedes``, ``version``) while the old one is voided."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("issued")
        PAID = "paid", _("paid")
        OVERDUE = "overdue", _("overdue")
        VOID = "void", _("void")

    provider = models.ForeignKey(Provider, verbose_name=_("provider"), on_delete=models.PROTECT, related_name="bills")
    bill_number = models.CharField(_("bill number"), max_length=64)
    account = models.ForeignKey(UtilityAccount, verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="bills")
    # Who sees the bill as theirs: the account's subscriber when it was issued (or when they subscribed),
    # or the patient of a visit bill.
    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("citizen"), on_delete=models.PROTECT,
                                null=True, blank=True, related_name="billing_bills")
    period = models.DateField(_("period"), help_text=_("The first day of the month billed."))
    description = models.CharField(_("description"), max_length=255, blank=True)
    amount = models.DecimalField(_("amount"), validators=[MinValueValidator(ZERO)], **MONEY)
    amount_paid = models.DecimalField(_("amount paid"), default=ZERO, editable=False, **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY", editable=False)
    due_date = models.DateField(_("due date"))
    payment_reference = models.CharField(_("payment reference"), max_length=20, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    supersedes = models.OneToOneField("self", verbose_name=_("supersedes"), on_delete=models.PROTECT, null=True,
                                      blank=True, related_name="superseded_by")
    content_hash = models.CharField(_("content hash"), max_length=64, editable=False)
    grid_path = GridPathField(_("grid path"), max_length=255, db_index=True, editable=False)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        ordering = ["-period", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "bill_number"], name="billing_bill_number_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="billing_bill_amount_not_negative"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0) & Q(amount_paid__lte=F("amount")),
                                   name="billing_bill_paid_within_amount"),
        ]
        indexes = [
            models.Index(fields=["citizen", "-period", "-id"], name="billing_bill_citizen"),
            models.Index(fields=["account", "-period"], name="billing_bill_account"),
            models.Index(fields=["status", "due_date"], name="billing_bill_due"),
        ]

    def __str__(self):
        return f"{self.provider_id and self.provider.code} {self.bill_number}"

    @property
    def is_payable(self) -> bool:
        return self.status in (self.Status.ISSUED, self.Status.OVERDUE)


class BillLine(models.Model):
    bill = models.ForeignKey(Bill, verbose_name=_("bill"), on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"))
    description = models.CharField(_("description"), max_length=255)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("bill line")
        verbose_name_plural = _("bill lines")
        ordering = ["bill", "position"]
        constraints = [models.UniqueConstraint(fields=["bill", "position"], name="billing_line_position_unique")]

    def __str__(self):
        return f"{self.description} {self.amount}"


class Payment(models.Model):
    """One payment of one or more bills (all or nothing), or a top-up of the payer's one-card."""

    class Method(models.TextChoices):
        CARD = "card", _("one-card")
        GATEWAY = "gateway", _("payment gateway")

    class Purpose(models.TextChoices):
        BILLS = "bills", _("bills")
        TOP_UP = "top_up", _("one-card top-up")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        UNKNOWN = "unknown", _("unknown")

    payer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("payer"), on_delete=models.PROTECT,
                              related_name="billing_payments")
    method = models.CharField(_("method"), max_length=10, choices=Method.choices)
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices, default=Purpose.BILLS)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    amount = models.DecimalField(_("amount"), validators=[MinValueValidator(Decimal("0.01"))], **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY", editable=False)
    # The gateway's reference for this payment (gateway payments only), the key of its callback.
    gateway_reference = models.CharField(_("gateway reference"), max_length=64, unique=True, null=True, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True)
    grid_path = GridPathField(_("grid path"), max_length=255, db_index=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    last_queried_at = models.DateTimeField(_("gateway last asked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["payer", "-created_at", "-id"], name="billing_payment_payer"),
            models.Index(fields=["status", "created_at"], name="billing_payment_status"),
            models.Index(fields=["settled_at"], name="billing_payment_settled"),
        ]

    def __str__(self):
        return f"{self.pk} {self.amount} ({self.status})"


class PaymentBill(models.Model):
    """A bill a payment pays. ``holds`` is true while the payment is pending, unknown or succeeded: the
    database allows one such row per bill, so a bill is paid once whatever runs concurrently."""

    payment = models.ForeignKey(Payment, verbose_name=_("payment"), on_delete=models.PROTECT, related_name="items")
    bill = models.ForeignKey(Bill, verbose_name=_("bill"), on_delete=models.PROTECT, related_name="payment_items")
    amount = models.DecimalField(_("amount"), **MONEY)
    holds = models.BooleanField(_("holds the bill"), default=True)

    class Meta:
        verbose_name = _("paid bill")
        verbose_name_plural = _("paid bills")
        ordering = ["payment", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bill"], condition=Q(holds=True), name="billing_bill_paid_once"),
            models.UniqueConstraint(fields=["payment", "bill"], name="billing_payment_bill_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_bill_amount_positive"),
        ]

    def __str__(self):
        return f"{self.payment_id} → {self.bill_id}"


class Card(models.Model):
    """The city's one-card (一卡通) as a stored balance; its movements say how it got there."""

    holder = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("holder"), on_delete=models.PROTECT,
                                  related_name="billing_card")
    number = models.CharField(_("card number"), max_length=20, unique=True)
    balance = models.DecimalField(_("balance"), default=ZERO, **MONEY)
    grid_path = GridPathField(_("grid path"), max_length=255, db_index=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("one-card")
        verbose_name_plural = _("one-cards")
        ordering = ["number"]
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="billing_card_balance_not_negative")]

    def __str__(self):
        return self.number


class CardMovement(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("top-up")
        PAYMENT = "payment", _("payment")
        REFUND = "refund", _("refund")
        OPENING = "opening", _("opening balance")

    card = models.ForeignKey(Card, verbose_name=_("card"), on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), help_text=_("Positive in, negative out."), **MONEY)
    balance_after = models.DecimalField(_("balance after"), **MONEY)
    payment = models.ForeignKey(Payment, verbose_name=_("payment"), on_delete=models.PROTECT, null=True, blank=True,
                                related_name="card_movements")
    entry = models.ForeignKey("JournalEntry", verbose_name=_("journal entry"), on_delete=models.PROTECT,
                              related_name="card_movements")
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("one-card movement")
        verbose_name_plural = _("one-card movements")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["card", "-created_at", "-id"], name="billing_movement_card")]

    def __str__(self):
        return f"{self.card_id} {self.amount}"


class JournalEntry(models.Model):
    """One money movement, as legs that sum to zero. Append-only; a mistake is undone by a reversing entry."""

    class Kind(models.TextChoices):
        CARD_PAYMENT = "card_payment", _("one-card payment")
        GATEWAY_PAYMENT = "gateway_payment", _("gateway payment")
        TOP_UP = "top_up", _("one-card top-up")
        OPENING = "opening", _("opening balance")
        REVERSAL = "reversal", _("reversal")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    payment = models.ForeignKey(Payment, verbose_name=_("payment"), on_delete=models.PROTECT, null=True, blank=True,
                                related_name="journal_entries")
    reverses = models.OneToOneField("self", verbose_name=_("reverses"), on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="reversed_by")
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.pk} {self.kind}"


class JournalLeg(models.Model):
    """One side of an entry on one ledger account. Ledger accounts are named, e.g. ``card:<card id>``
    (what the city owes a card holder), ``provider:<code>`` (what it owes a provider), ``gateway``
    (what the gateway owes the city), ``cash`` (money that came in from outside)."""

    entry = models.ForeignKey(JournalEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="legs")
    account = models.CharField(_("ledger account"), max_length=64)
    amount = models.DecimalField(_("amount"), help_text=_("Debit positive, credit negative."), **MONEY)
    provider = models.ForeignKey(Provider, verbose_name=_("provider"), on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="+")
    bill = models.ForeignKey(Bill, verbose_name=_("bill"), on_delete=models.PROTECT, null=True, blank=True,
                             related_name="journal_legs")

    class Meta:
        verbose_name = _("journal leg")
        verbose_name_plural = _("journal legs")
        ordering = ["entry", "id"]
        indexes = [models.Index(fields=["account"], name="billing_leg_account")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="billing_leg_not_zero")]

    def __str__(self):
        return f"{self.account} {self.amount}"


class GatewayCharge(models.Model):
    """The simulated payment gateway's own book (billing.gateway): what it charged, as the gateway
    knows it. The daily reconciliation compares it to our payments — the "settlement file"."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    reference = models.CharField(_("reference"), max_length=64, unique=True)
    merchant_reference = models.CharField(_("merchant reference"), max_length=64, unique=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("gateway charge")
        verbose_name_plural = _("gateway charges")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.reference} {self.amount} ({self.status})"


class IdempotencyRecord(AbstractIdempotencyRecord):
    """Money-moving POSTs of the billing API (civic.idempotency)."""

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="billing_idempotency_unique")]


class ReconciliationRun(models.Model):
    """One day's reconciliation of one provider: payments against the gateway's book and the ledger."""

    provider = models.ForeignKey(Provider, verbose_name=_("provider"), on_delete=models.PROTECT,
                                 related_name="reconciliations")
    day = models.DateField(_("day"))
    payments_count = models.PositiveIntegerField(_("payments"), default=0)
    payments_total = models.DecimalField(_("paid"), default=ZERO, **MONEY)
    ledger_total = models.DecimalField(_("in the ledger"), default=ZERO, **MONEY)
    gateway_total = models.DecimalField(_("settled by the gateway"), default=ZERO, **MONEY)
    matched_count = models.PositiveIntegerField(_("matched"), default=0)
    exceptions_count = models.PositiveIntegerField(_("exceptions"), default=0)
    ran_at = models.DateTimeField(_("ran at"), default=timezone.now)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-day", "provider"]
        constraints = [models.UniqueConstraint(fields=["provider", "day"], name="billing_reconciliation_unique")]

    def __str__(self):
        return f"{self.provider_id and self.provider.code} {self.day}"


class ReconciliationException(models.Model):
    class Kind(models.TextChoices):
        MISSING_IN_LEDGER = "missing_in_ledger", _("paid, not in the ledger")
        LEDGER_MISMATCH = "ledger_mismatch", _("ledger amount differs")
        MISSING_AT_GATEWAY = "missing_at_gateway", _("paid, not settled by the gateway")
        GATEWAY_MISMATCH = "gateway_mismatch", _("gateway amount or status differs")
        UNMATCHED_SETTLEMENT = "unmatched_settlement", _("settled by the gateway, no payment")
        UNKNOWN_PAYMENT = "unknown_payment", _("payment still unknown")

    run = models.ForeignKey(ReconciliationRun, verbose_name=_("reconciliation"), on_delete=models.CASCADE,
                            related_name="exceptions")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    payment = models.ForeignKey(Payment, verbose_name=_("payment"), on_delete=models.PROTECT, null=True,
                                blank=True, related_name="+")
    bill = models.ForeignKey(Bill, verbose_name=_("bill"), on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+")
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    expected = models.DecimalField(_("expected"), null=True, blank=True, **MONEY)
    found = models.DecimalField(_("found"), null=True, blank=True, **MONEY)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("resolved by"),
                                    on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("reconciliation exception")
        verbose_name_plural = _("reconciliation exceptions")
        ordering = ["run", "id"]

    def __str__(self):
        return f"{self.run} {self.kind}"
