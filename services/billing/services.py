"""Writes of e-billing: providers and accounts, subscriptions, bills (pushed by providers in bulk, voided,
issued for hospital visits), payments (one-card or gateway) and their settlement, one-card top-ups,
and the daily reconciliation.

Every write is one transaction. What must never happen is decided by the database (see
services.billing.models): a bill paid twice (the partial unique index on PaymentBill), a card below
zero (a conditional UPDATE, the CHECK behind it), a journal entry that does not balance (the deferred
trigger). Every money movement is one JournalEntry (``_post``); nothing in the journal is edited.

Ledger accounts (JournalLeg.account), debit positive:

    card:<card id>       what the city owes the card holder (credit when topped up, debit when spent)
    provider:<code>      what the city owes the provider (credit when one of its bills is paid)
    gateway              what the gateway owes the city (debit when a gateway payment succeeds)
    cash                 money brought in from outside the system (opening balances)

So a card's balance is minus the sum of its ledger account, which the reconciliation checks.
"""

import hashlib
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civic.audit import audit_record
from civic.errors import ConflictError
from civic.models import Notice
from civic.notices import notice_queue, notices_queue
from grid.models import GridNode
from services.billing.models import (
    ZERO,
    Bill,
    BillLine,
    Card,
    CardMovement,
    GatewayCharge,
    JournalEntry,
    JournalLeg,
    Payment,
    PaymentBill,
    Provider,
    ReconciliationException,
    ReconciliationRun,
    Subscription,
    UtilityAccount,
)

__all__ = [
    "MAX_PUSH",
    "BillConflict",
    "BillNotPayable",
    "BillNotVoidable",
    "BillPaidAlready",
    "InsufficientFunds",
    "PushRejected",
    "PushResult",
    "SubscriptionExists",
    "SubscriptionNotPending",
    "account_ensure",
    "BILLING_GROUP",
    "bill_notify",
    "bill_void",
    "billing_staff_ensure",
    "bills_mark_overdue",
    "bills_notify_due_soon",
    "bills_push",
    "card_ensure",
    "card_opening_balance",
    "card_top_up",
    "check_digit",
    "is_valid_reference",
    "journal_reverse",
    "payment_mark_unknown",
    "proof_matches",
    "parse_amount",
    "payment_create",
    "payment_settle",
    "payments_mark_unknown",
    "payments_requery",
    "provider_ensure",
    "reconcile",
    "subscription_apply",
    "subscription_cancel",
    "subscription_confirm",
    "subscription_reject",
    "visit_bill_issue",
]

logger = logging.getLogger("services.billing")

MAX_PUSH = 10_000  # bills per provider push
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # Decimal(12, 2)
# A gateway payment without an answer for this long is `unknown`: the re-query task asks the gateway.
PENDING_TIMEOUT = timedelta(minutes=15)


#
# Errors (HTTP 409 through civic.api.errors); their messages lazy, translated when answered
#


class BillConflict(ConflictError):
    code = "bill_conflict"
    message = gettext_lazy("A bill with this number exists with other content; send a correction as a new bill.")


class BillNotPayable(ConflictError):
    code = "bill_not_payable"
    message = gettext_lazy("The bill is void or paid already.")


class BillPaidAlready(ConflictError):
    code = "bill_paid"
    message = gettext_lazy("The bill is paid, or being paid, by another payment.")


class BillNotVoidable(ConflictError):
    code = "bill_not_voidable"
    message = gettext_lazy("Only an unpaid bill without a payment under way can be voided.")


class InsufficientFunds(ConflictError):
    code = "insufficient_funds"
    message = gettext_lazy("The one-card balance is too low; nothing was charged.")


class SubscriptionExists(ConflictError):
    code = "subscription_exists"
    message = gettext_lazy("You have already applied for this account's e-bills.")


class SubscriptionNotPending(ConflictError):
    code = "subscription_not_pending"
    message = gettext_lazy("The subscription is no longer waiting for a decision.")


#
# Money and references
#


_PLAIN_AMOUNT = re.compile(r"-?\d{1,10}(?:\.\d{1,2})?\Z")


def parse_amount(value, *, field: str = "amount", allow_zero: bool = True, allow_negative: bool = False) -> Decimal:
    """A money amount from the API: a string (or int) with at most two decimals; floats are refused
    (they cannot say 0.10 exactly)."""
    if type(value) is str and _PLAIN_AMOUNT.match(value):  # the usual case, checked cheaply (bulk pushes)
        amount = Decimal(value).quantize(CENT)
        if amount > 0 or (amount == 0 and allow_zero) or (amount < 0 and allow_negative):
            return amount
    if isinstance(value, (bool, float)) or value is None:
        raise ValidationError({field: _("Send the amount as a string such as \"123.45\".")})
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: _("Not an amount.")}) from None
    if not amount.is_finite():
        raise ValidationError({field: _("Not an amount.")})
    if amount != amount.quantize(CENT):
        raise ValidationError({field: _("An amount has at most two decimal places.")})
    if amount < 0 and not allow_negative:
        raise ValidationError({field: _("An amount cannot be negative.")})
    if amount == 0 and not allow_zero:
        raise ValidationError({field: _("The amount must be more than zero.")})
    if abs(amount) > MAX_AMOUNT:
        raise ValidationError({field: _("The amount is too large.")})
    return amount.quantize(CENT)


def check_digit(digits: str) -> str:
    """The Luhn (mod 10) check digit of a string of digits (BPAY's MOD10V01)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2 == 0:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return str((10 - total % 10) % 10)


def is_valid_reference(reference: str) -> bool:
    return reference.isdigit() and len(reference) > 1 and check_digit(reference[:-1]) == reference[-1]


def _payment_reference(provider_code: str, bill_number: str) -> str:
    """16 digits: 15 drawn from the bill's identity (stable across re-pushes), then the check digit."""
    digest = hashlib.sha256(f"{provider_code}\x1f{bill_number}".encode()).hexdigest()
    body = str(int(digest[:20], 16) % 10**15).zfill(15)
    return body + check_digit(body)


def _content_hash(*, account_number: str, period: date, amount: Decimal, due_date: date,
                  lines: Sequence[tuple[str, Decimal]], description: str = "", supersedes: str = "") -> str:
    # Joined by the unit separator (a crafted one in a field changes only the hash of its own bill).
    parts = [account_number, period.isoformat(), str(amount), due_date.isoformat(), description]
    for text, value in lines:
        parts += [text, str(value)]
    if supersedes:
        parts.append(f"supersedes:{supersedes}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _root_path() -> str:
    """The path of the grid's (first) root: rows whose place is unknown lie there, so that a grant on
    the root covers them. Empty when the grid has no node yet."""
    root = GridNode.get_first_root_node()
    return root.path if root is not None else ""


#
# Ledger
#


def _post(kind: str, legs: Iterable[tuple], *, payment: Payment | None = None, memo: str = "",
          reverses: JournalEntry | None = None) -> JournalEntry:
    """One journal entry with its legs (account, amount[, provider, bill]), which must sum to zero (the
    database checks it again at commit on PostgreSQL). Call inside the movement's transaction."""
    legs = [leg for leg in legs if leg[1] != 0]
    if len(legs) < 2 or sum(leg[1] for leg in legs) != 0:
        raise ValueError(f"A journal entry's legs must sum to zero: {legs}")
    entry = JournalEntry.objects.create(kind=kind, memo=memo[:255], payment=payment, reverses=reverses)
    JournalLeg.objects.bulk_create([
        JournalLeg(entry=entry, account=leg[0], amount=leg[1], provider=leg[2] if len(leg) > 2 else None,
                   bill=leg[3] if len(leg) > 3 else None)
        for leg in legs
    ])
    return entry


def journal_reverse(*, entry: JournalEntry, memo: str = "") -> JournalEntry:
    """Undo an entry by a new one with every leg negated (the original stays as it was)."""
    legs = [(leg.account, -leg.amount, leg.provider, leg.bill) for leg in entry.legs.select_related("provider", "bill")]
    return _post(JournalEntry.Kind.REVERSAL, legs, payment=entry.payment, memo=memo or f"reversal of {entry.pk}",
                 reverses=entry)


def card_account(card: Card) -> str:
    return f"card:{card.pk}"


def provider_account(provider: Provider) -> str:
    return f"provider:{provider.code}"


#
# Providers and accounts
#


def provider_ensure(*, code: str, name: str, kind: str, partner=None, allows_partial_payment: bool = False) -> Provider:
    provider, created = Provider.objects.get_or_create(
        code=code, defaults={"name": name, "kind": kind, "partner": partner,
                             "allows_partial_payment": allows_partial_payment},
    )
    if not created and partner is not None and provider.partner_id is None:
        provider.partner = partner
        provider.save(update_fields=["partner"])
    return provider


def account_ensure(*, provider: Provider, account_number: str, holder_name: str, address: str = "",
                   grid: GridNode | None = None) -> UtilityAccount:
    account, _created = UtilityAccount.objects.get_or_create(
        provider=provider, account_number=account_number,
        defaults={"holder_name": holder_name, "address": address, "grid": grid,
                  "grid_path": grid.path if grid is not None else _root_path()},
    )
    return account


#
# Subscriptions
#


def _clean_channels(channels) -> list[str]:
    if channels is None:
        return [Notice.Channel.IN_APP]
    if not isinstance(channels, (list, tuple)) or not all(isinstance(c, str) for c in channels):
        raise ValidationError({"channels": _("Send the channels as a list.")})
    unknown = set(channels) - set(Notice.Channel.values)
    if unknown:
        raise ValidationError({"channels": _("Unknown channels: %(names)s.") % {"names": ", ".join(sorted(unknown))}})
    return list(dict.fromkeys(channels)) or [Notice.Channel.IN_APP]


def subscription_apply(*, citizen, provider: Provider, account_number: str, holder_name: str, proof_method: str,
                       proof_value: str, channels: Sequence[str] | None = None) -> Subscription:
    """A citizen applies for an account's e-bills, proving ownership with the amount of the account's
    last bill or a code the provider sent them; pending until the provider or billing staff confirm.

    An unknown account and a holder name that does not match answer alike (no account enumeration)."""
    if proof_method not in Subscription.Proof.values:
        raise ValidationError({"proof_method": _("Choose the amount of the last bill or the provider's code.")})
    proof_value = (proof_value or "").strip()
    if not proof_value or len(proof_value) > 64:
        raise ValidationError({"proof_value": _("Give the proof of ownership.")})
    if proof_method == Subscription.Proof.LAST_AMOUNT:
        proof_value = str(parse_amount(proof_value, field="proof_value"))
    channels = _clean_channels(channels)
    account = UtilityAccount.objects.filter(provider=provider, account_number=(account_number or "").strip()).first()
    if account is None or _normal(account.holder_name) != _normal(holder_name):
        raise ValidationError({"account_number": _("No account of this provider has this number and holder name.")})
    try:
        with transaction.atomic():
            return Subscription.objects.create(citizen=citizen, account=account, proof_method=proof_method,
                                               proof_value=proof_value, channels=channels)
    except IntegrityError:
        raise SubscriptionExists from None


def _normal(name: str) -> str:
    return re.sub(r"\s+", "", name or "").casefold()


def proof_matches(subscription: Subscription) -> bool | None:
    """Does a last-amount proof match the account's latest bill? None for codes (the provider knows)."""
    if subscription.proof_method != Subscription.Proof.LAST_AMOUNT:
        return None
    if hasattr(subscription, "last_amount"):  # annotated by selectors.provider_subscriptions
        return subscription.last_amount is not None and Decimal(subscription.proof_value) == subscription.last_amount
    last = Bill.objects.filter(account_id=subscription.account_id).exclude(status=Bill.Status.VOID).order_by(
        "-period", "-id").values_list("amount", flat=True).first()
    return last is not None and Decimal(subscription.proof_value) == last


def subscription_confirm(*, actor, subscription: Subscription) -> Subscription:
    """Activate a pending subscription; the account's bills nobody holds yet become the citizen's."""
    with transaction.atomic():
        changed = Subscription.objects.filter(pk=subscription.pk, status=Subscription.Status.PENDING).update(
            status=Subscription.Status.ACTIVE, decided_at=timezone.now(), decided_by=actor)
        if not changed:
            raise SubscriptionNotPending
        subscription.refresh_from_db()
        audit_record(actor=actor, action="billing.subscription_confirmed", target=subscription,
                     summary=str(subscription.account))
        Bill.objects.filter(account_id=subscription.account_id, citizen__isnull=True).update(
            citizen=subscription.citizen)
        account = subscription.account
        notice_queue(
            recipient=subscription.citizen, template="billing/subscription_confirmed",
            context={"provider": account.provider.name, "account": account.account_number},
            dedupe_key=f"billing:subscription-confirmed:{subscription.pk}", channels=subscription.channels,
        )
    return subscription


def subscription_reject(*, actor, subscription: Subscription, reason: str = "") -> Subscription:
    with transaction.atomic():
        changed = Subscription.objects.filter(pk=subscription.pk, status=Subscription.Status.PENDING).update(
            status=Subscription.Status.REJECTED, decided_at=timezone.now(), decided_by=actor,
            reason=(reason or "")[:255])
        if not changed:
            raise SubscriptionNotPending
        audit_record(actor=actor, action="billing.subscription_rejected", target=subscription,
                     summary=(reason or "")[:255])
    subscription.refresh_from_db()
    return subscription


def subscription_cancel(*, citizen, subscription: Subscription) -> Subscription:
    """Stop the e-bills; the subscription and the bills already received stay in the citizen's history."""
    if subscription.citizen_id != citizen.pk:
        raise Http404
    changed = Subscription.objects.filter(
        pk=subscription.pk, status__in=[Subscription.Status.PENDING, Subscription.Status.ACTIVE],
    ).update(status=Subscription.Status.CANCELLED, cancelled_at=timezone.now())
    if not changed:
        raise SubscriptionNotPending
    subscription.refresh_from_db()
    return subscription


#
# Bills
#


class PushRejected(Exception):
    """Some items of a push are wrong: nothing was stored. `errors` maps "<index>.<field>" to messages;
    `conflict` is true when the only faults are bill numbers known with other content (409)."""

    def __init__(self, errors: dict[str, list[str]], *, conflict: bool = False):
        super().__init__(f"{len(errors)} errors")
        self.errors = errors
        self.conflict = conflict


@dataclass
class PushResult:
    created: int
    unchanged: int
    bill_ids: list[int]


_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def _parse_period(value) -> date:
    match = _PERIOD.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValidationError(_("Give the period as YYYY-MM."))
    return date(int(match[1]), int(match[2]), 1)


def _parse_date(value) -> date:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationError(_("Give the date as YYYY-MM-DD."))


def _text(value, *, limit: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(_("This field is required."))
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(_("At most %(limit)d characters.") % {"limit": limit})
    return value


@dataclass
class _Item:
    index: int
    bill_number: str
    account_number: str
    holder_name: str
    address: str
    period: date
    amount: Decimal
    due_date: date
    description: str
    lines: list[tuple[str, Decimal]]
    supersedes: str = ""
    content_hash: str = ""


_ITEM_CHECKS = (
    ("bill_number", lambda v: _text(v, limit=64)),
    ("account_number", lambda v: _text(v, limit=64)),
    ("holder_name", lambda v: _text(v, limit=100, required=False)),
    ("address", lambda v: _text(v, limit=255, required=False)),
    ("description", lambda v: _text(v, limit=255, required=False)),
    ("period", lambda v: _parse_period(v)),
    ("amount", lambda v: parse_amount(v)),
    ("due_date", lambda v: _parse_date(v)),
    ("supersedes", lambda v: _text(v, limit=64, required=False)),
)


def _plain_text(value, limit: int) -> str | None:
    if type(value) is str:
        value = value.strip()
        if 0 < len(value) <= limit:
            return value
    return None


def _fast_item(index: int, raw) -> _Item | None:
    """The item when every field is plainly right (the usual case, checked without building errors);
    None sends it to _validate_item, which says what is wrong."""
    try:
        bill_number = _plain_text(raw["bill_number"], 64)
        account_number = _plain_text(raw["account_number"], 64)
        period, amount, due_date = raw["period"], raw["amount"], raw["due_date"]
        if (bill_number is None or account_number is None or type(period) is not str or len(period) != 7
                or type(amount) is not str or not _PLAIN_AMOUNT.match(amount) or amount.startswith("-")
                or type(due_date) is not str or len(due_date) != 10):
            return None
        optional = {}
        for name, limit in (("holder_name", 100), ("address", 255), ("description", 255), ("supersedes", 64)):
            value = raw.get(name)
            text = "" if value is None or value == "" else _plain_text(value, limit)
            if text is None:
                return None
            optional[name] = text
        lines = []
        for line in raw.get("lines", []):
            text, value = _plain_text(line["description"], 255), line["amount"]
            if text is None or type(value) is not str or not _PLAIN_AMOUNT.match(value):
                return None
            lines.append((text, Decimal(value).quantize(CENT)))
        item = _Item(index=index, bill_number=bill_number, account_number=account_number, period=_parse_period(period),
                     amount=Decimal(amount).quantize(CENT), due_date=date.fromisoformat(due_date), lines=lines,
                     **optional)
    except (KeyError, TypeError, ValueError, ValidationError, AttributeError):
        return None
    if len(lines) > 100 or (lines and sum(value for _t, value in lines) != item.amount):
        return None
    item.content_hash = _content_hash(account_number=item.account_number, period=item.period, amount=item.amount,
                                      due_date=item.due_date, lines=lines, description=item.description,
                                      supersedes=item.supersedes)
    return item


def _validate_item(index: int, raw, errors: dict[str, list[str]]) -> _Item | None:
    if isinstance(raw, dict):
        item = _fast_item(index, raw)
        if item is not None:
            return item
    if not isinstance(raw, dict):
        errors[str(index)] = [_("Each bill is an object.")]
        return None
    values: dict[str, Any] = {}
    failed = False
    for name, check in _ITEM_CHECKS:
        try:
            values[name] = check(raw.get(name))
        except ValidationError as error:
            errors[f"{index}.{name}"] = [str(m) for m in (error.message_dict.get(name, [])
                                                          if hasattr(error, "error_dict") else error.messages)]
            failed = True
    lines = []
    raw_lines = raw.get("lines", [])
    if not isinstance(raw_lines, list) or len(raw_lines) > 100:
        errors[f"{index}.lines"] = [_("Send up to 100 lines as a list of {description, amount}.")]
        failed = True
    else:
        for position, line in enumerate(raw_lines):
            try:
                if not isinstance(line, dict):
                    raise ValidationError(_("Each line is an object with description and amount."))
                lines.append((_text(line.get("description"), limit=255),
                              parse_amount(line.get("amount"), allow_negative=True)))
            except ValidationError as error:
                errors[f"{index}.lines.{position}"] = [str(m) for m in
                                                       (sum(error.message_dict.values(), [])
                                                        if hasattr(error, "error_dict") else error.messages)]
                failed = True
    if failed:
        return None
    if lines and sum(amount for _text_, amount in lines) != values["amount"]:
        errors[f"{index}.lines"] = [_("The lines must add up to the bill's amount.")]
        return None
    item = _Item(index=index, lines=lines, **values)
    item.content_hash = _content_hash(account_number=item.account_number, period=item.period, amount=item.amount,
                                      due_date=item.due_date, lines=lines, description=item.description,
                                      supersedes=item.supersedes)
    return item


def bills_push(*, provider: Provider, items: Sequence) -> PushResult:
    """A provider's bills, all or nothing: each new bill is stored, each known one pushed again with the
    same content changes nothing; any invalid item, or a known number with other content, refuses the
    whole push (PushRejected, naming each item's errors). Up to MAX_PUSH bills.

    A correction is a new bill naming the one it replaces (`supersedes`: its bill number), which must
    be unpaid with no payment under way: the new bill is the next version, the old one is voided.

    Set-based for speed: a few queries to read what is known, then bulk INSERTs of the accounts, bills
    and lines — never one statement per bill."""
    if not isinstance(items, list) or not items:
        raise PushRejected({"non_field_errors": [_("Send a non-empty list of bills.")]})
    if len(items) > MAX_PUSH:
        raise PushRejected({"non_field_errors": [_("At most %(max)d bills per request.") % {"max": MAX_PUSH}]})
    errors: dict[str, list[str]] = {}
    valid: list[_Item] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(items):
        item = _validate_item(index, raw, errors)
        if item is None:
            continue
        if item.bill_number in first_index:
            errors[f"{index}.bill_number"] = [_("The same bill number appears twice in this push (item %(first)d).")
                                              % {"first": first_index[item.bill_number]}]
            continue
        first_index[item.bill_number] = index
        valid.append(item)
    if errors:
        raise PushRejected(errors)
    with transaction.atomic():
        known = dict(_values_in(Bill.objects.filter(provider=provider).order_by(), "bill_number", list(first_index),
                                ("bill_number", "content_hash")))
        conflicts = {f"{item.index}.bill_number": [str(BillConflict.message)]
                     for item in valid if item.bill_number in known and known[item.bill_number] != item.content_hash}
        if conflicts:
            raise PushRejected(conflicts, conflict=True)
        new = [item for item in valid if item.bill_number not in known]
        if not new:
            return PushResult(created=0, unchanged=len(valid), bill_ids=[])
        replaced = _superseded(provider, new)  # old bill number -> (id, version)
        accounts = _accounts_for(provider, new)  # account number -> (id, grid path)
        subscribers = dict(_values_in(
            Subscription.objects.filter(status=Subscription.Status.ACTIVE).order_by("account_id", "decided_at"),
            "account_id", [pk for pk, _path in accounts.values()], ("account_id", "citizen_id")))
        now = timezone.now()
        count = len(new)
        account_ids = [accounts[item.account_number][0] for item in new]
        try:
            with transaction.atomic():
                _insert(Bill, {
                    "provider_id": [provider.pk] * count,
                    "bill_number": [item.bill_number for item in new],
                    "account_id": account_ids,
                    "citizen_id": [subscribers.get(pk) for pk in account_ids],
                    "period": [item.period for item in new],
                    "description": [item.description for item in new],
                    "amount": [item.amount for item in new],
                    "amount_paid": [ZERO] * count,
                    "currency": ["CNY"] * count,
                    "due_date": [item.due_date for item in new],
                    "payment_reference": [_payment_reference(provider.code, item.bill_number) for item in new],
                    "status": [Bill.Status.ISSUED] * count,
                    "version": [replaced[item.supersedes][1] + 1 if item.supersedes else 1 for item in new],
                    "supersedes_id": [replaced[item.supersedes][0] if item.supersedes else None for item in new],
                    "content_hash": [item.content_hash for item in new],
                    "grid_path": [accounts[item.account_number][1] for item in new],
                    "issued_at": [now] * count,
                }, copy=True)
        except IntegrityError:
            # A concurrent push stored one of these numbers first (or, once in 10^15, a reference clashed).
            raise BillConflict(_("Another push stored some of these bills at the same time; send it again.")) from None
        stored = _values_in(Bill.objects.filter(provider=provider).order_by(), "bill_number",
                            [item.bill_number for item in new], ("bill_number", "id", "citizen_id"))
        ids = {number: (pk, citizen_id) for number, pk, citizen_id in stored}
        lines = [(ids[item.bill_number][0], position, text, amount)
                 for item in new for position, (text, amount) in enumerate(item.lines)]
        if lines:
            bill_ids, positions, texts, amounts = (list(column) for column in zip(*lines, strict=True))
            _insert(BillLine, {"bill_id": bill_ids, "position": positions, "description": texts, "amount": amounts},
                    copy=True)
        bill_ids = [ids[item.bill_number][0] for item in new]
        if replaced:
            voided = Bill.objects.filter(pk__in=[pk for pk, _version in replaced.values()],
                                         status__in=[Bill.Status.ISSUED, Bill.Status.OVERDUE]).update(
                status=Bill.Status.VOID, voided_at=now)
            if voided != len(replaced):
                raise BillNotVoidable
        notify = [pk for pk, citizen_id in ids.values() if citizen_id is not None]
        if notify:
            _notify_issued_after_commit(sorted(notify))
    return PushResult(created=count, unchanged=len(valid) - count, bill_ids=bill_ids)


def _superseded(provider: Provider, items: list[_Item]) -> dict[str, tuple[int, int]]:
    """The bills the items correct, locked: each must exist, be unpaid and have no payment under way, and
    be corrected by one item only; PushRejected (409) otherwise."""
    wanted = [item for item in items if item.supersedes]
    if not wanted:
        return {}
    found = {number: (pk, version, status) for number, pk, version, status in _values_in(
        Bill.objects.select_for_update().filter(provider=provider), "bill_number",
        [item.supersedes for item in wanted], ("bill_number", "id", "version", "status"))}
    held = set(PaymentBill.objects.filter(bill_id__in=[pk for pk, _v, _s in found.values()], holds=True)
               .values_list("bill_id", flat=True))
    errors, seen = {}, set()
    for item in wanted:
        old = found.get(item.supersedes)
        if old is None:
            errors[f"{item.index}.supersedes"] = [_("No bill of yours has this number.")]
        elif old[2] not in (Bill.Status.ISSUED, Bill.Status.OVERDUE) or old[0] in held:
            errors[f"{item.index}.supersedes"] = [str(BillNotVoidable.message)]
        elif item.supersedes in seen:
            errors[f"{item.index}.supersedes"] = [_("Another item of this push corrects the same bill.")]
        seen.add(item.supersedes)
    if errors:
        raise PushRejected(errors, conflict=True)
    return {number: (pk, version) for number, (pk, version, _status) in found.items()}


def _values_in(queryset, field: str, values: list, columns: tuple[str, ...]) -> list[tuple]:
    """queryset.filter(<field>__in=values).values_list(*columns), as `= ANY(array)` on PostgreSQL: one
    parameter however many values (Django's IN prepares each of 10,000 values one by one)."""
    if connection.vendor != "postgresql":
        return list(queryset.filter(**{f"{field}__in": values}).values_list(*columns))
    return list(queryset.filter(**{f"{field}__in": RawSQL("SELECT unnest(%s)", [values])}).values_list(*columns))


def _insert(model, columns: dict[str, list], *, returning: tuple[str, ...] = (), copy: bool = False) -> list[tuple]:
    """INSERT many rows given column by column; returns the `returning` columns of each row.

    On PostgreSQL one statement per table whatever the number of rows: with `copy`, COPY FROM STDIN
    (nothing returned: read the ids back by a unique key); else the columns sent as arrays and spread by
    unnest(). No model instances, no per-row SQL compiling. Elsewhere, bulk_create."""
    names = list(columns)
    if connection.vendor == "postgresql" and copy:
        _copy(model, columns)
        return []
    if connection.vendor != "postgresql":
        count = len(columns[names[0]])
        objects = [model(**{name: columns[name][i] for name in names}) for i in range(count)]
        model.objects.bulk_create(objects, batch_size=2000)
        return [tuple(getattr(obj, name) for name in returning) for obj in objects]
    meta = model._meta
    fields = [meta.get_field(name.removesuffix("_id") if name.endswith("_id") and name != "id" else name)
              for name in names]
    quote = connection.ops.quote_name
    casts = ", ".join(f"%s::{_array_type(field)}[]" for field in fields)
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
           f"SELECT * FROM unnest({casts})")
    if returning:
        sql += " RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [columns[name] for name in names])
        return cursor.fetchall() if returning else []


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, date):  # dates and datetimes (aware: with their offset)
        return value.isoformat()
    return str(value)  # int, Decimal


def _copy(model, columns: dict[str, list]) -> None:
    """COPY the rows (given column by column) into the model's table, in PostgreSQL's text format."""
    meta = model._meta
    names = list(columns)
    fields = [meta.get_field(name.removesuffix("_id") if name.endswith("_id") and name != "id" else name)
              for name in names]
    quote = connection.ops.quote_name
    buffer = io.StringIO()
    buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in zip(*columns.values(), strict=True))
    buffer.seek(0)
    sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(sql, buffer)


def _array_type(field) -> str:
    if field.is_relation:
        field = field.target_field
    db_type = field.db_type(connection)
    # Identity columns are "bigint"/"integer"; strip a column's own constraints such as CHECK (... >= 0).
    return {"serial": "integer", "bigserial": "bigint"}.get(db_type, db_type.split(" CHECK")[0])




def _accounts_for(provider: Provider, items: list[_Item]) -> dict[str, tuple[int, str]]:
    """account number -> (id, grid path) for the items' accounts, opening the unknown ones (which need
    their holder's name)."""
    numbers = list({item.account_number for item in items})
    accounts = {number: (pk, path) for number, pk, path in _values_in(
        UtilityAccount.objects.filter(provider=provider).order_by(), "account_number", numbers,
        ("account_number", "id", "grid_path"))}
    missing: dict[str, _Item] = {}
    errors = {}
    for item in items:
        if item.account_number in accounts or item.account_number in missing:
            continue
        if not item.holder_name:
            errors[f"{item.index}.account_number"] = [_("Unknown account: send holder_name to open it.")]
        else:
            missing[item.account_number] = item
    if errors:
        raise PushRejected(errors)
    if missing:
        root, now, count = _root_path(), timezone.now(), len(missing)
        try:
            with transaction.atomic():
                _insert(UtilityAccount, {
                    "provider_id": [provider.pk] * count,
                    "account_number": list(missing),
                    "holder_name": [item.holder_name for item in missing.values()],
                    "address": [item.address for item in missing.values()],
                    "grid_path": [root] * count,
                    "created_at": [now] * count,
                }, copy=True)
        except IntegrityError:
            raise BillConflict(_("Another push opened some of these accounts at the same time; send it again.")) \
                from None
        accounts.update({number: (pk, path) for number, pk, path in _values_in(
            UtilityAccount.objects.filter(provider=provider).order_by(), "account_number", list(missing),
            ("account_number", "id", "grid_path"))})
    return accounts


def _notify_issued_after_commit(bill_ids: list[int]) -> None:
    from services.billing.tasks import notify_bills_issued

    transaction.on_commit(lambda: notify_bills_issued.delay(bill_ids), robust=True)


def _subscription_channels(bill: Bill) -> list[str] | None:
    """The channels of the citizen's subscription to the bill's account; None (their preferences) for a
    bill that came without one (a visit bill)."""
    channels = (Subscription.objects.filter(account_id=bill.account_id, citizen_id=bill.citizen_id)
                .order_by("-applied_at").values_list("channels", flat=True).first())
    return channels or None


def bill_notify(bill: Bill, kind: str) -> None:
    """Tell the bill's citizen (kind: issued, due_soon, overdue), once per bill and kind."""
    citizen = bill.citizen
    if citizen is None:
        return
    notice_queue(
        recipient=citizen, template=f"billing/bill_{kind}",
        context={"provider": bill.provider.name, "bill_number": bill.bill_number, "amount": str(bill.amount),
                 "due_date": bill.due_date.isoformat(), "period": bill.period.strftime("%Y-%m"),
                 "reference": bill.payment_reference},
        dedupe_key=f"billing:bill-{kind}:{bill.pk}", channels=_subscription_channels(bill),
    )


def bill_void(*, provider: Provider, bill_number: str, actor=None) -> Bill:
    """Void an unpaid bill nobody is paying; a void bill stays void (voiding it again changes nothing).
    `actor`: who did it, for the audit log (the provider's service user, or billing staff)."""
    with transaction.atomic():
        bill = Bill.objects.select_for_update().filter(provider=provider, bill_number=bill_number).first()
        if bill is None:
            raise Http404
        if bill.status == Bill.Status.VOID:
            return bill
        if not bill.is_payable or PaymentBill.objects.filter(bill=bill, holds=True).exists():
            raise BillNotVoidable
        bill.status, bill.voided_at = Bill.Status.VOID, timezone.now()
        bill.save(update_fields=["status", "voided_at"])
        audit_record(actor=actor, action="billing.bill_voided", target=bill, summary=str(bill))
    return bill


def visit_bill_issue(*, citizen, issuer_code: str, issuer_name: str, reference: str, description: str,
                     amount: Decimal, due_date: date, lines: list[tuple[str, Decimal]] | None = None) -> Bill:
    """A hospital visit's bill (called by booking), among the citizen's bills; idempotent by
    (issuer_code, reference): the same call again returns the bill stored the first time, other
    content under the same reference is a BillConflict. The issuer is a provider of kind `health`."""
    amount = parse_amount(amount)
    lines = [(str(text)[:255], parse_amount(value, allow_negative=True)) for text, value in (lines or [])]
    if lines and sum(value for _t, value in lines) != amount:
        raise ValidationError({"lines": _("The lines must add up to the bill's amount.")})
    today = timezone.localdate()
    period = date(today.year, today.month, 1)
    account_number = f"citizen-{citizen.pk}"
    content_hash = _content_hash(account_number=account_number, period=period, amount=amount, due_date=due_date,
                                 lines=lines, description=description)
    with transaction.atomic():
        provider = provider_ensure(code=issuer_code, name=issuer_name, kind=Provider.Kind.HEALTH)
        existing = Bill.objects.filter(provider=provider, bill_number=reference).first()
        if existing is not None:
            if existing.citizen_id != citizen.pk or existing.content_hash != content_hash:
                raise BillConflict
            return existing
        account = account_ensure(provider=provider, account_number=account_number,
                                 holder_name=citizen.get_full_name() or citizen.get_username())
        try:
            with transaction.atomic():
                bill = Bill.objects.create(
                    provider=provider, bill_number=reference, account=account, citizen=citizen, period=period,
                    description=description[:255], amount=amount, due_date=due_date,
                    payment_reference=_payment_reference(provider.code, reference), content_hash=content_hash,
                    grid_path=account.grid_path,
                )
        except IntegrityError:
            existing = Bill.objects.get(provider=provider, bill_number=reference)
            if existing.citizen_id != citizen.pk or existing.content_hash != content_hash:
                raise BillConflict from None
            return existing
        BillLine.objects.bulk_create([BillLine(bill=bill, position=i, description=text, amount=value)
                                      for i, (text, value) in enumerate(lines)])
        bill_notify(bill, "issued")
    return bill


def bills_mark_overdue(*, today: date | None = None, batch: int = 2000) -> int:
    """Issued bills past their due date become overdue, and their citizens are told (once); a batch per
    transaction, rows another run holds skipped (it does them)."""
    today = today or timezone.localdate()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(Bill.objects.select_for_update(skip_locked=True)
                       .filter(status=Bill.Status.ISSUED, due_date__lt=today).values_list("pk", flat=True)[:batch])
            Bill.objects.filter(pk__in=ids, status=Bill.Status.ISSUED).update(status=Bill.Status.OVERDUE)
            for bill in Bill.objects.filter(pk__in=ids, citizen__isnull=False).select_related("provider", "citizen"):
                bill_notify(bill, "overdue")
        total += len(ids)
        if len(ids) < batch:
            return total


def bills_notify_due_soon(*, today: date | None = None, days: int = 3) -> int:
    """Tell citizens of bills due within `days` days (once per bill: the outbox's dedupe key)."""
    today = today or timezone.localdate()
    bills = (Bill.objects.filter(status=Bill.Status.ISSUED, citizen__isnull=False, due_date__gte=today,
                                 due_date__lte=today + timedelta(days=days))
             .exclude(payment_items__holds=True).select_related("provider", "citizen"))
    count = 0
    with transaction.atomic():
        for bill in bills.iterator(chunk_size=500):
            bill_notify(bill, "due_soon")
            count += 1
    return count


#
# The one-card
#


def card_ensure(*, holder) -> Card:
    card = Card.objects.filter(holder=holder).first()
    if card is not None:
        return card
    try:
        with transaction.atomic():
            return Card.objects.create(holder=holder, number=f"HH{holder.pk:012d}", grid_path=_root_path())
    except IntegrityError:
        return Card.objects.get(holder=holder)


def _card_move(card: Card, amount: Decimal, kind: str, entry: JournalEntry, payment: Payment | None = None) -> None:
    """Change the balance in one conditional UPDATE (never below zero: 0 rows means too little) and log it."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # One conditional UPDATE: under the row lock PostgreSQL re-checks the balance a concurrent debit
        # left, so of two debits that together overdraw the card the second finds 0 rows.
        cursor.execute(
            f"UPDATE {quote(Card._meta.db_table)} SET balance = balance + %s, updated_at = %s"
            " WHERE id = %s AND balance >= %s RETURNING balance",
            [amount, timezone.now(), card.pk, -amount],
        )
        row = cursor.fetchone()
    if row is None:
        raise InsufficientFunds
    balance = Card._meta.get_field("balance").to_python(row[0]).quantize(CENT)
    CardMovement.objects.create(card=card, kind=kind, amount=amount, balance_after=balance, payment=payment,
                                entry=entry)


def card_opening_balance(*, card: Card, amount: Decimal, memo: str = "") -> JournalEntry:
    """Money put on a card from outside (the demo's opening balance; a counter top-up)."""
    amount = parse_amount(amount, allow_zero=False)
    with transaction.atomic():
        entry = _post(JournalEntry.Kind.OPENING, [("cash", amount), (card_account(card), -amount)], memo=memo)
        _card_move(card, amount, CardMovement.Kind.OPENING, entry)
    return entry


def card_top_up(*, holder, amount) -> tuple[Payment, str]:
    """A top-up paid through the gateway: a pending payment and the gateway page's URL; the card is
    credited when the gateway says the charge succeeded (payment_settle)."""
    from services.billing import gateway

    amount = parse_amount(amount, allow_zero=False)
    card = card_ensure(holder=holder)
    with transaction.atomic():
        payment = Payment.objects.create(payer=holder, method=Payment.Method.GATEWAY, purpose=Payment.Purpose.TOP_UP,
                                         amount=amount, grid_path=card.grid_path)
        payment.gateway_reference = gateway.charge_open(merchant_reference=f"P{payment.pk}", amount=amount)
        payment.save(update_fields=["gateway_reference"])
    return payment, gateway.charge_url(payment.gateway_reference)


#
# Payments
#


def payment_create(*, payer, bill_ids: Sequence[int], method: str) -> tuple[Payment, str | None]:
    """Pay the payer's bills as one payment, all or nothing; returns it with the gateway page's URL
    (None for the card).

    The bills are held by the payment in the same transaction (PaymentBill rows): the partial unique
    index lets only one payment hold a bill, so of concurrent payments of one bill one wins and the
    others get BillPaidAlready. `card` settles at once (InsufficientFunds if the balance is short, and
    then nothing is held or moved); `gateway` stays pending until the gateway answers."""
    from services.billing import gateway

    if method not in Payment.Method.values:
        raise ValidationError({"method": _("Pay by card or gateway.")})
    if (not isinstance(bill_ids, (list, tuple)) or not bill_ids or len(bill_ids) > 100
            or not all(isinstance(pk, int) and not isinstance(pk, bool) and pk > 0 for pk in bill_ids)):
        raise ValidationError({"bills": _("Send the ids of 1 to 100 bills.")})
    bill_ids = sorted(set(bill_ids))
    bills = list(Bill.objects.filter(pk__in=bill_ids, citizen=payer).select_related("provider").order_by("pk"))
    if len(bills) != len(bill_ids):
        raise Http404  # another's bill is as unknown as a bill that does not exist
    if any(not bill.is_payable for bill in bills):
        raise BillNotPayable
    due = [(bill, bill.amount - bill.amount_paid) for bill in bills]
    if any(amount <= 0 for _bill, amount in due):
        raise BillNotPayable(_("There is nothing left to pay on this bill."))
    total = sum((amount for _bill, amount in due), Decimal("0.00"))
    card = card_ensure(holder=payer) if method == Payment.Method.CARD else None
    with transaction.atomic():
        payment = Payment.objects.create(payer=payer, method=method, amount=total, grid_path=bills[0].grid_path)
        items = [PaymentBill(payment=payment, bill=bill, amount=amount) for bill, amount in due]
        try:
            with transaction.atomic():
                PaymentBill.objects.bulk_create(items)
        except IntegrityError:
            raise BillPaidAlready from None
        if card is not None:
            _settle_bills(payment, bills, source=card_account(card), card=card, items=items)
            return payment, None
        payment.gateway_reference = gateway.charge_open(merchant_reference=f"P{payment.pk}", amount=total)
        payment.save(update_fields=["gateway_reference"])
    return payment, gateway.charge_url(payment.gateway_reference)


def _settle_bills(payment: Payment, bills: list[Bill], *, source: str, card: Card | None = None,
                  items: list[PaymentBill] | None = None) -> None:
    """Within the payment's transaction: post the entry, move the card, mark the bills paid, tell the
    payer and the providers. `source` is the ledger account debited (the card or the gateway)."""
    items = list(payment.items.all()) if items is None else items
    by_bill = {bill.pk: bill for bill in bills}
    legs: list[tuple] = [(source, payment.amount)]
    legs += [(provider_account(by_bill[item.bill_id].provider), -item.amount, by_bill[item.bill_id].provider,
              by_bill[item.bill_id]) for item in items]
    kind = JournalEntry.Kind.CARD_PAYMENT if card is not None else JournalEntry.Kind.GATEWAY_PAYMENT
    entry = _post(kind, legs, payment=payment, memo=f"payment {payment.pk}")
    if card is not None:
        _card_move(card, -payment.amount, CardMovement.Kind.PAYMENT, entry, payment)
    now = timezone.now()
    for item in items:
        # Conditional on a payable status and within the amount (the CHECK backs it): a bill voided in
        # the meantime makes the whole payment fail.
        updated = Bill.objects.filter(pk=item.bill_id, status__in=[Bill.Status.ISSUED, Bill.Status.OVERDUE]).update(
            amount_paid=F("amount_paid") + item.amount, status=Bill.Status.PAID, paid_at=now)
        if not updated:
            raise BillNotPayable
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.SUCCEEDED, settled_at=now)
    payment.status, payment.settled_at = Payment.Status.SUCCEEDED, now
    _receipt_notice(payment, bills)
    _publish_paid(payment, items, by_bill)


def _receipt_notice(payment: Payment, bills: list[Bill]) -> None:
    channels = None
    if bills:
        channels = _subscription_channels(bills[0])
    notices_queue(
        recipients=[payment.payer], template="billing/payment_receipt",
        context={"payment": payment.pk, "amount": str(payment.amount), "method": payment.get_method_display(),
                 "bills": ", ".join(f"{b.provider.name} {b.bill_number}" for b in bills),
                 "at": timezone.localtime(payment.settled_at).strftime("%Y-%m-%d %H:%M")},
        dedupe_key=lambda _user: f"billing:receipt:{payment.pk}", channels=channels,
    )


def _publish_paid(payment: Payment, items: list[PaymentBill], by_bill: dict[int, Bill]) -> None:
    """bill.paid to the providers' webhooks: ids and amounts only, each provider hearing of its own bills
    (one subscriber query per provider of the payment)."""
    from partners.webhooks import publish_many

    events: dict[int, list] = {}
    paid_at = timezone.localtime(payment.settled_at).isoformat()
    for item in items:
        bill = by_bill[item.bill_id]
        if bill.provider.partner_id is not None:
            events.setdefault(bill.provider.partner_id, []).append(({
                "bill_number": bill.bill_number, "bill": bill.pk, "payment": payment.pk, "amount": str(item.amount),
                "payment_reference": bill.payment_reference, "paid_at": paid_at,
            }, None))
    for partner_id, payloads in events.items():
        publish_many("bill.paid", payloads, partner_id=partner_id)


def payment_settle(*, payment_id: int, succeeded: bool, reason: str = "") -> Payment:
    """The gateway's answer for a pending or unknown payment (its callback, or a re-query). A payment
    settles once: a second answer (a duplicate or late callback) changes nothing."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise Http404
        if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.FAILED):
            if (payment.status == Payment.Status.SUCCEEDED) != succeeded:
                logger.error("Gateway says %s for payment %s, settled %s before", succeeded, payment.pk, payment.status)
            return payment
        if not succeeded:
            PaymentBill.objects.filter(payment=payment).update(holds=False)
            payment.status, payment.settled_at = Payment.Status.FAILED, timezone.now()
            payment.failure_reason = reason[:255]
            payment.save(update_fields=["status", "settled_at", "failure_reason"])
            return payment
        if payment.purpose == Payment.Purpose.TOP_UP:
            card = card_ensure(holder=payment.payer)
            legs = [("gateway", payment.amount), (card_account(card), -payment.amount)]
            entry = _post(JournalEntry.Kind.TOP_UP, legs, payment=payment, memo=f"top-up {payment.pk}")
            _card_move(card, payment.amount, CardMovement.Kind.TOP_UP, entry, payment)
            now = timezone.now()
            Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.SUCCEEDED, settled_at=now)
            payment.status, payment.settled_at = Payment.Status.SUCCEEDED, now
            return payment
        bills = list(Bill.objects.filter(payment_items__payment=payment).select_related("provider").order_by("pk"))
        try:
            with transaction.atomic():
                _settle_bills(payment, bills, source="gateway")
        except BillNotPayable:
            # The money came in but a bill was voided meanwhile: the payment stays unknown for a person
            # to refund (the reconciliation lists it), never silently failed.
            Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.UNKNOWN,
                                                         failure_reason="bill no longer payable")
            payment.status = Payment.Status.UNKNOWN
    return payment


def payments_mark_unknown(*, older_than: timedelta = PENDING_TIMEOUT) -> int:
    """Gateway payments still pending after `older_than` have timed out: `unknown`, never failed."""
    return Payment.objects.filter(method=Payment.Method.GATEWAY, status=Payment.Status.PENDING,
                                  created_at__lt=timezone.now() - older_than).update(status=Payment.Status.UNKNOWN)


def payment_mark_unknown(*, payment: Payment) -> Payment:
    """The gateway did not answer in time (its page timed out): unknown until it is asked again."""
    Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(status=Payment.Status.UNKNOWN)
    payment.refresh_from_db()
    return payment


def payments_requery(*, limit: int = 500) -> dict[str, int]:
    """Ask the gateway about every unknown payment and settle those it has an answer for."""
    from services.billing import gateway

    counts = {"succeeded": 0, "failed": 0, "still_unknown": 0}
    for payment in Payment.objects.filter(status=Payment.Status.UNKNOWN).order_by("pk")[:limit]:
        status = gateway.charge_status(payment.gateway_reference) if payment.gateway_reference else None
        Payment.objects.filter(pk=payment.pk).update(last_queried_at=timezone.now())
        if status == GatewayCharge.Status.SUCCEEDED:
            payment_settle(payment_id=payment.pk, succeeded=True)
            counts["succeeded"] += 1
        elif status == GatewayCharge.Status.FAILED:
            payment_settle(payment_id=payment.pk, succeeded=False, reason="gateway: failed")
            counts["failed"] += 1
        else:
            counts["still_unknown"] += 1
    return counts


#
# Reconciliation
#


def reconcile(*, provider: Provider, day: date) -> ReconciliationRun:
    """Match one provider's payments settled on `day` with the ledger and the gateway's book, and list
    what does not match. Running it again replaces that day's run."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    end = start + timedelta(days=1)
    items = list(
        PaymentBill.objects.filter(bill__provider=provider, payment__status=Payment.Status.SUCCEEDED,
                                   payment__settled_at__gte=start, payment__settled_at__lt=end)
        .select_related("payment", "bill")
    )
    ledger = {
        (row["entry__payment"], row["bill"]): -row["total"]
        for row in JournalLeg.objects.filter(account=provider_account(provider), entry__payment__in=[
            i.payment_id for i in items]).values("entry__payment", "bill").annotate(total=Sum("amount"))
    }
    payment_ids = {item.payment_id for item in items}
    charges = {c.merchant_reference: c for c in GatewayCharge.objects.filter(
        merchant_reference__in=[f"P{pk}" for pk in payment_ids])}
    exceptions = []
    matched = 0
    for item in items:
        faults: list[tuple[str, Decimal, Decimal | None]] = []
        in_ledger = ledger.get((item.payment_id, item.bill_id))
        if in_ledger is None:
            faults.append((ReconciliationException.Kind.MISSING_IN_LEDGER, item.amount, None))
        elif in_ledger != item.amount:
            faults.append((ReconciliationException.Kind.LEDGER_MISMATCH, item.amount, in_ledger))
        if item.payment.method == Payment.Method.GATEWAY:
            charge = charges.get(f"P{item.payment_id}")
            if charge is None:
                faults.append((ReconciliationException.Kind.MISSING_AT_GATEWAY, item.payment.amount, None))
            elif charge.status != GatewayCharge.Status.SUCCEEDED or charge.amount != item.payment.amount:
                faults.append((ReconciliationException.Kind.GATEWAY_MISMATCH, item.payment.amount, charge.amount))
        if not faults:
            matched += 1
        exceptions += [ReconciliationException(kind=kind, payment=item.payment, bill=item.bill,
                                               reference=item.bill.payment_reference, expected=expected, found=found)
                       for kind, expected, found in faults]
    # Charges the gateway settled that day for this provider's bills whose payment we do not count as paid.
    settled = GatewayCharge.objects.filter(status=GatewayCharge.Status.SUCCEEDED, settled_at__gte=start,
                                           settled_at__lt=end)
    for charge in settled:
        payment = Payment.objects.filter(gateway_reference=charge.reference).first()
        if payment is None:
            continue
        if payment.status != Payment.Status.SUCCEEDED and payment.items.filter(bill__provider=provider).exists():
            exceptions.append(ReconciliationException(
                kind=ReconciliationException.Kind.UNMATCHED_SETTLEMENT, payment=payment, reference=charge.reference,
                expected=None, found=charge.amount, detail=f"payment is {payment.status}"))
    for payment in Payment.objects.filter(status=Payment.Status.UNKNOWN, items__bill__provider=provider,
                                          created_at__lt=end).distinct():
        exceptions.append(ReconciliationException(kind=ReconciliationException.Kind.UNKNOWN_PAYMENT, payment=payment,
                                                  reference=payment.gateway_reference or "", expected=payment.amount))
    with transaction.atomic():
        ReconciliationRun.objects.filter(provider=provider, day=day).delete()
        run = ReconciliationRun.objects.create(
            provider=provider, day=day, payments_count=len(payment_ids),
            payments_total=sum((i.amount for i in items), ZERO),
            ledger_total=sum((v for v in ledger.values()), ZERO),
            gateway_total=sum((c.amount for c in charges.values() if c.status == GatewayCharge.Status.SUCCEEDED), ZERO),
            matched_count=matched, exceptions_count=len(exceptions),
        )
        for exception in exceptions:
            exception.run = run
        ReconciliationException.objects.bulk_create(exceptions)
    return run


#
# Billing staff
#

BILLING_GROUP = "billing"
# What the billing staff may do in the admin (Django model permissions); where (every row) is the
# group's grant of the billing node permissions on the grid's roots.
_STAFF_MODEL_PERMISSIONS = {
    "provider": ("view", "add", "change"),
    "utilityaccount": ("view", "add", "change"),
    "subscription": ("view", "change"),
    "bill": ("view", "change"),
    "billline": ("view",),
    "payment": ("view",),
    "paymentbill": ("view",),
    "card": ("view",),
    "cardmovement": ("view",),
    "journalentry": ("view",),
    "journalleg": ("view",),
    "gatewaycharge": ("view",),
    "reconciliationrun": ("view", "add"),
    "reconciliationexception": ("view", "change"),
}


def billing_staff_group():
    """The `billing` group: the billing-staff role, with its model permissions and node grants."""
    from django.contrib.auth.models import Group, Permission
    from guardian.shortcuts import assign_perm

    group, _created = Group.objects.get_or_create(name=BILLING_GROUP)
    codenames = [f"{action}_{model}" for model, actions in _STAFF_MODEL_PERMISSIONS.items() for action in actions]
    group.permissions.add(*Permission.objects.filter(content_type__app_label="billing", codename__in=codenames))
    for root in GridNode.get_root_nodes():
        for codename in ("view_billing", "handle_billing"):
            assign_perm(f"grid.{codename}", group, root)
    return group


def billing_staff_ensure(*, user) -> None:
    """Make `user` billing staff (a staff account in the `billing` group)."""
    from grid.permissions import forget_grants

    user.groups.add(billing_staff_group())
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    forget_grants(user)
