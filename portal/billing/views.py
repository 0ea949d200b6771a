"""Citizens' e-bill pages: providers, applying for an account's e-bills, their subscriptions, bills,
payments (one-card or the payment gateway), receipts and the one-card.

Reads go through services.billing.selectors (grid.permissions scopes every list: a citizen is the owner
of their bills, payments, subscriptions and card) narrowed to the citizen's own rows, so that a staff
account in the portal sees its own bills too, never the city's. Writes go through
services.billing.services. Another citizen's bill, payment or subscription answers 404, like one that
does not exist.

The two forms that move money (pay, top up) carry a token drawn when the page was shown, used as the
write's Idempotency-Key in billing's store (civic.idempotency): the same form sent twice pays once,
and the second copy lands on the first one's result.
"""

import uuid
from io import BytesIO

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civic.errors import ConflictError
from civic.forms import add_service_errors
from civic.idempotency import IdempotencyConflict, IdempotencyMismatch, idempotent_run, request_fingerprint
from portal.billing.forms import ApplyForm, BillChoiceForm, BillFilterForm, PayForm, TopUpForm
from services.billing import gateway, services
from services.billing.models import Bill, IdempotencyRecord, Payment
from services.billing.receipts import receipt_pdf
from services.billing.selectors import (
    bill_detail,
    bill_list,
    card_for,
    card_movements,
    payment_get,
    payment_list,
    provider_list,
    subscription_list,
)

__all__ = ["apply", "bill_page", "bills", "card", "pay", "payment_page", "payments", "providers", "receipt",
           "subscription_cancel", "subscriptions"]

PAGE_SIZE = 20


#
# Reads of the citizen's own rows
#


def _own_bills(user, **filters):
    return bill_list(user=user, **filters).filter(citizen=user)


def _own_payment(user, pk: int) -> Payment:
    payment = payment_get(user=user, pk=pk)
    if payment.payer_id != user.pk:
        raise Http404
    return payment


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


#
# Money-moving forms: once per token
#


class _Busy(Exception):
    """The same form is still being processed (a double click that arrived while the first ran)."""


def _once(request, token: uuid.UUID, body: dict, run) -> dict:
    """Run `run()` (returning a JSON-able dict) once per citizen and form token; a second copy of the same
    form gets the first one's dict. Errors of `run` (refusals) store nothing, so the form can be fixed and
    sent again."""

    def execute():
        return 201, run(), {}

    try:
        stored = idempotent_run(model=IdempotencyRecord, scope=f"user:{request.user.pk}", key=str(token),
                                fingerprint=request_fingerprint("POST", request.path, body), run=execute)
    except IdempotencyConflict:
        raise _Busy from None
    except IdempotencyMismatch:
        # The token belongs to another form's contents (a page edited after it was shown): refuse.
        raise ValidationError(_("The form changed after it was shown: reload the page and try again.")) from None
    return stored.body


def _fresh_token(form_class, request, **kwargs):
    """The form as sent, with a new token: after a refusal the citizen may correct it and send it again."""
    data = request.POST.copy()
    data["token"] = str(uuid.uuid4())
    form = form_class(data, **kwargs)
    form.is_valid()
    return form


def _after_payment(payment_id: int, gateway_url: str | None) -> str:
    """Where the citizen goes once a payment is made: the gateway's page (coming back to the payment's
    page), or the payment's page for the one-card."""
    result = reverse("portal:billing:payment", args=[payment_id])
    if gateway_url:
        return f"{gateway_url}?{urlencode({'next': result})}"
    return result


#
# Providers and subscriptions
#


def providers(request):
    return render(request, "portal/billing/providers.html", {"providers": provider_list()})


@login_required
def apply(request):
    initial = {}
    if request.method == "GET" and request.GET.get("provider"):
        initial["provider"] = request.GET["provider"]
    form = ApplyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscription = services.subscription_apply(
                citizen=request.user, provider=data["provider"], account_number=data["account_number"],
                holder_name=data["holder_name"], proof_method=data["proof_method"], proof_value=data["proof_value"],
                channels=data["channels"] or None,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except ConflictError as exc:
            form.add_error(None, str(exc) or str(exc.message))
        else:
            messages.success(request, _("Your application for %(provider)s account %(account)s was sent. You will "
                                        "receive its e-bills once the provider confirms it.")
                             % {"provider": data["provider"].name, "account": subscription.account.account_number})
            return redirect("portal:billing:subscriptions")
    status = 400 if form.errors else 200
    return render(request, "portal/billing/apply.html", {"form": form}, status=status)


@login_required
def subscriptions(request):
    own = subscription_list(user=request.user).filter(citizen=request.user)
    return render(request, "portal/billing/subscriptions.html", {"subscriptions": own})


@login_required
@require_POST
def subscription_cancel(request, pk):
    subscription = subscription_list(user=request.user).filter(citizen=request.user, pk=pk).first()
    if subscription is None:
        raise Http404
    try:
        services.subscription_cancel(citizen=request.user, subscription=subscription)
    except ConflictError as exc:
        messages.error(request, str(exc) or str(exc.message))
    else:
        messages.success(request, _("E-bills of %(provider)s account %(account)s are cancelled. Bills you "
                                    "received stay in your history.")
                         % {"provider": subscription.account.provider.name,
                            "account": subscription.account.account_number})
    return redirect("portal:billing:subscriptions")


#
# Bills
#


@login_required
def bills(request):
    form = BillFilterForm(request.GET or None, user=request.user)
    filters = {key: value for key, value in form.cleaned_data.items() if value} if form.is_valid() else {}
    page = _page(request, _own_bills(request.user, **filters))
    return render(request, "portal/billing/bills.html", {
        "form": form, "page": page, "bills": page.object_list, "query": _query_without_page(request),
        "payable": {Bill.Status.ISSUED, Bill.Status.OVERDUE},
    })


@login_required
def bill_page(request, pk):
    bill = bill_detail(user=request.user, pk=pk)
    if bill.citizen_id != request.user.pk:
        raise Http404
    paid_by = bill.payment_items.filter(holds=True, payment__payer=request.user).select_related("payment").first()
    return render(request, "portal/billing/bill.html", {"bill": bill, "lines": bill.lines.all(),
                                                        "payment": paid_by.payment if paid_by else None})


#
# Paying
#


def _pay_context(request, form, bill_ids) -> dict:
    chosen = list(_own_bills(request.user).filter(pk__in=bill_ids).order_by("due_date", "pk"))
    if len(chosen) != len(set(bill_ids)):
        raise Http404  # someone else's bill, or none at all
    card_row = card_for(user=request.user)
    return {"form": form, "bills": chosen, "total": sum(bill.amount - bill.amount_paid for bill in chosen),
            "unpayable": [bill for bill in chosen if not bill.is_payable], "card": card_row}


@login_required
def pay(request):
    """GET ?bills=1&bills=2: confirm the bills and choose how to pay; POST: pay them, once per form."""
    if request.method != "POST":
        ids = [value for value in request.GET.getlist("bills") if value.isdigit()]
        choice = BillChoiceForm(request.GET, bill_ids=[int(value) for value in ids])
        if not choice.is_valid():
            messages.error(request, " ".join(choice.errors.get("bills", [_("Choose at least one bill to pay.")])))
            return redirect("portal:billing:bills")
        bill_ids = choice.cleaned_data["bills"]
        form = PayForm(initial={"bills": bill_ids}, bill_ids=bill_ids)
        return render(request, "portal/billing/pay.html", _pay_context(request, form, bill_ids))

    ids = [int(value) for value in request.POST.getlist("bills") if value.isdigit()]
    form = PayForm(request.POST, bill_ids=ids)
    if not form.is_valid():
        return render(request, "portal/billing/pay.html", _pay_context(request, form, ids), status=400)
    bill_ids, method = sorted(set(form.cleaned_data["bills"])), form.cleaned_data["method"]

    def run():
        payment, url = services.payment_create(payer=request.user, bill_ids=bill_ids, method=method)
        return {"payment": payment.pk, "gateway_url": url}

    try:
        done = _once(request, form.cleaned_data["token"], {"bills": bill_ids, "method": method}, run)
    except _Busy:
        messages.info(request, _("Your payment is being processed: see its result below."))
        return redirect("portal:billing:payments")
    except (ValidationError, ConflictError) as exc:
        form = _fresh_token(PayForm, request, bill_ids=ids)
        if isinstance(exc, ValidationError):
            add_service_errors(form, exc)
        else:
            form.add_error(None, str(exc) or str(exc.message))
        return render(request, "portal/billing/pay.html", _pay_context(request, form, ids),
                      status=400 if isinstance(exc, ValidationError) else 409)
    return redirect(_after_payment(done["payment"], done["gateway_url"]))


@login_required
def payments(request):
    page = _page(request, payment_list(user=request.user).filter(payer=request.user))
    return render(request, "portal/billing/payments.html", {"page": page, "payments": page.object_list})


@login_required
def payment_page(request, pk):
    payment = _own_payment(request.user, pk)
    items = payment.items.select_related("bill__provider", "bill__account").order_by("bill_id")
    # A gateway payment left before choosing at the gateway can be taken up again there (the same charge).
    resume = None
    if payment.status == Payment.Status.PENDING and payment.gateway_reference:
        resume = _after_payment(payment.pk, gateway.charge_url(payment.gateway_reference))
    return render(request, "portal/billing/payment.html", {"payment": payment, "items": items, "resume": resume})


@login_required
def receipt(request, pk):
    payment = _own_payment(request.user, pk)
    if payment.status != Payment.Status.SUCCEEDED:
        raise Http404
    name, pdf = receipt_pdf(payment)
    return FileResponse(BytesIO(pdf), as_attachment=True, filename=name, content_type="application/pdf")


#
# The one-card
#


@login_required
def card(request):
    card_row = card_for(user=request.user)
    if card_row is not None and card_row.holder_id != request.user.pk:
        card_row = None
    form = TopUpForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        amount = form.cleaned_data["amount"]

        def run():
            payment, url = services.card_top_up(holder=request.user, amount=amount)
            return {"payment": payment.pk, "gateway_url": url}

        try:
            done = _once(request, form.cleaned_data["token"], {"amount": f"{amount:.2f}"}, run)
        except _Busy:
            messages.info(request, _("Your top-up is being processed: see its result below."))
            return redirect("portal:billing:payments")
        except ValidationError as exc:
            form = _fresh_token(TopUpForm, request)
            add_service_errors(form, exc)
        else:
            return redirect(_after_payment(done["payment"], done["gateway_url"]))
    if form.errors:
        status = 400
    movements = _page(request, card_movements(card=card_row)) if card_row is not None else None
    return render(request, "portal/billing/card.html", {
        "card": card_row, "form": form, "page": movements, "movements": movements.object_list if movements else [],
    }, status=status)
