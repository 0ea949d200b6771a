"""Admin for the billing-staff role (the ``billing`` group: view_billing and handle_billing granted on the
grid's root, services.billing.services.billing_staff_group).

Who sees what is grid.permissions' answer, as everywhere: rows with a scope rule (accounts,
subscriptions, bills, payments, cards and their movements) are scoped by the user's grants on the
grid (grants only: a staff member's own bills as a citizen do not open the admin to them); the
city-wide books (providers, the journal, the gateway's book, reconciliations) need the billing
permission on a root of the grid. A staff user without a billing grant sees no billing page at all.

Nothing that moves money or changes a bill's or subscription's state is edited by hand: the approval
queue's confirm/reject, voiding a bill and running a reconciliation call services.billing.services;
the journal, payments, cards and the gateway's book are read-only (civic.admin_utils.ReadOnlyAdminMixin).
Every changelist exports what it shows (its filters, search and ordering) as CSV or XLSX
(services.billing.admin_exports); the reconciliation report by provider and day is its own page.
"""

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from civic.admin_utils import EstimatedCountPaginator, ReadOnlyAdminMixin
from civic.errors import ConflictError
from grid.models import GridNode
from grid.permissions import grant_paths, is_within, rule_for, scope_by_codename
from services.billing import front_services, services
from services.billing.admin_exports import FORMATS, ChangelistExportMixin, csv_lines, xlsx_bytes
from services.billing.models import (
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
from services.billing.selectors import provider_list, reconciliation_report

__all__ = ["billing_city_wide", "billing_holds"]

VIEW, HANDLE = "view_billing", "handle_billing"


#
# The one permission mechanism, for the admin
#


def billing_holds(user, codename: str = VIEW) -> bool:
    """Does the user hold the billing permission anywhere on the grid?"""
    if not user.is_active or not user.is_staff:
        return False
    paths = grant_paths(user, codename)
    return paths is None or bool(paths)


def billing_city_wide(user, codename: str = VIEW) -> bool:
    """Does the user hold the billing permission on a root of the grid (the city-wide books)?"""
    if not user.is_active or not user.is_staff:
        return False
    paths = grant_paths(user, codename)
    return paths is None or any(len(path) <= GridNode.steplen for path in paths)


def _covers(user, codename: str, obj) -> bool:
    """Is the row under the user's grant of `codename` (grants only, no owner rule)?"""
    paths = grant_paths(user, codename)
    if paths is None:
        return True
    row_path = rule_for(type(obj)).path_of(obj)
    return bool(row_path) and any(is_within(row_path, granted) for granted in paths)


class _BillingAdmin(ChangelistExportMixin, admin.ModelAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_module_permission(self, request):
        return billing_holds(request.user)

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScopedBillingAdmin(_BillingAdmin):
    """Rows with a scope rule (services.billing.apps): those under the user's billing grants."""

    def get_queryset(self, request):
        return scope_by_codename(super().get_queryset(request), request.user, VIEW)

    def has_view_permission(self, request, obj=None):
        if obj is not None:
            return request.user.is_staff and _covers(request.user, VIEW, obj)
        return billing_holds(request.user)

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return request.user.is_staff and _covers(request.user, HANDLE, obj)
        return billing_holds(request.user, HANDLE)

    def has_handle_permission(self, request):
        return billing_holds(request.user, HANDLE)


class CityWideAdmin(_BillingAdmin):
    """The city-wide books: for billing permission on the grid's root."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if billing_city_wide(request.user) else queryset.none()

    def has_module_permission(self, request):
        return billing_city_wide(request.user)

    def has_view_permission(self, request, obj=None):
        return billing_city_wide(request.user)

    def has_change_permission(self, request, obj=None):
        return billing_city_wide(request.user, HANDLE)

    def has_handle_permission(self, request):
        return billing_city_wide(request.user, HANDLE)


class _ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None):
        return billing_holds(request.user)


#
# Providers and accounts
#


@admin.register(Provider)
class ProviderAdmin(CityWideAdmin):
    list_display = ["code", "name", "kind", "allows_partial_payment", "partner", "active"]
    list_filter = ["kind", "allows_partial_payment", "active"]
    search_fields = ["code", "name"]
    list_select_related = ["partner"]
    fields = ["code", "name", "kind", "allows_partial_payment", "partner", "active"]

    def has_add_permission(self, request, *args):
        return billing_city_wide(request.user, HANDLE)

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        front_services.provider_save(actor=request.user, provider=obj)


@admin.register(UtilityAccount)
class UtilityAccountAdmin(ScopedBillingAdmin):
    list_display = ["account_number", "provider", "holder_name", "address", "grid", "created_at"]
    list_filter = ["provider"]
    search_fields = ["account_number", "holder_name", "address"]
    list_select_related = ["provider", "grid"]
    fields = ["provider", "account_number", "holder_name", "address", "grid"]
    raw_id_fields = ["grid"]

    def get_readonly_fields(self, request, obj=None):
        return ["provider", "account_number"] if obj is not None else []

    def has_add_permission(self, request, *args):
        return billing_city_wide(request.user, HANDLE)

    def save_model(self, request, obj, form, change):
        try:
            front_services.account_save(actor=request.user, account=obj)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)


#
# The subscription approval queue
#


class PendingFirstFilter(admin.SimpleListFilter):
    """The queue: pending applications unless another status is asked for."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*Subscription.Status.choices, ("all", _("all"))]

    def choices(self, changelist):
        value = self.value() or Subscription.Status.PENDING
        for lookup, title in self.lookup_choices:
            yield {"selected": value == str(lookup), "query_string": changelist.get_query_string({
                self.parameter_name: lookup}), "display": title}

    def queryset(self, request, queryset):
        value = self.value() or Subscription.Status.PENDING
        return queryset if value == "all" else queryset.filter(status=value)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=255,
                             widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, ScopedBillingAdmin):
    list_display = ["applied_at", "citizen_name", "provider", "account_number", "holder_name", "proof_method",
                    "proof_value", "proof_check", "status", "decided_at"]
    list_filter = [PendingFirstFilter, "account__provider", "proof_method"]
    search_fields = ["account__account_number", "account__holder_name", "citizen__username"]
    list_select_related = ["account__provider", "citizen"]
    ordering = ["applied_at", "id"]  # the queue: oldest first
    actions = ["confirm", "reject"]
    fields = ["citizen_name", "provider", "account_number", "holder_name", "proof_method", "proof_value",
              "proof_check", "channels", "status", "reason", "applied_at", "decided_at", "decided_by",
              "cancelled_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        # What services.proof_matches compares a last-amount proof with, for every row in one query
        # (the amount of the account's latest bill that is not void), as the providers' queue reads it.
        last = (Bill.objects.filter(account=OuterRef("account")).exclude(status=Bill.Status.VOID)
                .order_by("-period", "-id").values("amount")[:1])
        return super().get_queryset(request).annotate(last_amount=Subquery(last))

    @admin.display(description=_("citizen"), ordering="citizen__username")
    def citizen_name(self, subscription):
        user = subscription.citizen
        name = f"{user.last_name}{user.first_name}"
        return f"{name} ({user.get_username()})" if name else user.get_username()

    @admin.display(description=_("provider"), ordering="account__provider__code")
    def provider(self, subscription):
        return subscription.account.provider.name

    @admin.display(description=_("account number"), ordering="account__account_number")
    def account_number(self, subscription):
        return subscription.account.account_number

    @admin.display(description=_("holder name"))
    def holder_name(self, subscription):
        return subscription.account.holder_name

    @admin.display(description=_("proof matches"))
    def proof_check(self, subscription):
        matches = services.proof_matches(subscription)
        if matches is None:
            return gettext("ask the provider")
        return gettext("yes, the last bill's amount") if matches else gettext("no")

    def _decide(self, request, queryset, decide, label: str) -> None:
        done = []
        for subscription in queryset.select_related("account").order_by("pk"):
            if not _covers(request.user, HANDLE, subscription):
                self.message_user(request, gettext("%(account)s: you may not decide on this application.")
                                  % {"account": subscription.account.account_number}, messages.ERROR)
                continue
            try:
                decide(subscription)
            except ConflictError as exc:
                self.message_user(request, f"{subscription.account.account_number}: {str(exc) or exc.message}",
                                  messages.ERROR)
            else:
                done.append(subscription.account.account_number)
        if done:
            self.message_user(request, f"{label}: {', '.join(done)}.", messages.SUCCESS)

    @admin.action(description=_("Confirm the selected applications"), permissions=["handle"])
    def confirm(self, request, queryset):
        self._decide(request, queryset,
                     lambda sub: services.subscription_confirm(actor=request.user, subscription=sub),
                     gettext("Confirmed"))

    @admin.action(description=_("Reject the selected applications"), permissions=["handle"])
    def reject(self, request, queryset):
        """Ask for the reason the citizen will read on an intermediate page, then reject."""
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._decide(request, queryset,
                         lambda sub: services.subscription_reject(actor=request.user, subscription=sub, reason=reason),
                         gettext("Rejected"))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Reject the selected applications"),
            "opts": self.model._meta,
            "subscriptions": queryset.select_related("account__provider").order_by("pk"),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/billing/subscription/reject.html", context)


#
# Bills and payments
#


class BillLineInline(_ReadOnlyInline):
    model = BillLine
    fields = ["position", "description", "amount"]


@admin.register(Bill)
class BillAdmin(ReadOnlyAdminMixin, ScopedBillingAdmin):
    list_display = ["bill_number", "provider", "account", "period_month", "amount", "amount_paid", "due_date",
                    "status", "version", "payment_reference"]
    list_filter = ["status", "provider", ("period", admin.DateFieldListFilter), "due_date"]
    search_fields = ["bill_number", "payment_reference", "account__account_number"]
    list_select_related = ["provider", "account"]
    inlines = [BillLineInline]
    actions = ["void"]
    fields = ["provider", "bill_number", "account", "citizen", "period", "description", "amount", "amount_paid",
              "currency", "due_date", "payment_reference", "status", "version", "supersedes", "issued_at", "paid_at",
              "voided_at"]
    readonly_fields = fields

    def lookup_allowed(self, lookup, value, request=None):
        # A citizen's bills by ?citizen=<id> would tell who holds which account: not through the URL.
        if lookup.split("__")[0] in ("citizen", "citizen_id"):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("period"), ordering="period")
    def period_month(self, bill):
        return bill.period.strftime("%Y-%m")

    @admin.action(description=_("Void the selected (unpaid) bills"), permissions=["handle"])
    def void(self, request, queryset):
        done = []
        for bill in queryset.select_related("provider").order_by("pk"):
            if not _covers(request.user, HANDLE, bill):
                continue
            try:
                services.bill_void(provider=bill.provider, bill_number=bill.bill_number, actor=request.user)
            except ConflictError as exc:
                self.message_user(request, f"{bill.bill_number}: {str(exc) or exc.message}", messages.ERROR)
            else:
                done.append(bill.bill_number)
        if done:
            self.message_user(request, gettext("Voided: %(bills)s.") % {"bills": ", ".join(done)}, messages.SUCCESS)


class PaymentBillInline(_ReadOnlyInline):
    model = PaymentBill
    fields = ["bill", "amount", "holds"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("bill__provider")


class CardMovementInline(_ReadOnlyInline):
    model = CardMovement
    fields = ["created_at", "kind", "amount", "balance_after", "payment", "entry"]
    fk_name = "payment"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, ScopedBillingAdmin):
    list_display = ["id", "created_at", "payer", "purpose", "method", "amount", "status", "gateway_reference",
                    "settled_at"]
    list_filter = ["status", "method", "purpose", ("created_at", admin.DateFieldListFilter),
                   ("items__bill__provider", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=id", "gateway_reference", "items__bill__bill_number", "items__bill__payment_reference"]
    list_select_related = ["payer"]
    inlines = [PaymentBillInline]
    fields = ["payer", "purpose", "method", "amount", "currency", "status", "failure_reason", "gateway_reference",
              "created_at", "settled_at", "last_queried_at"]
    readonly_fields = fields


@admin.register(Card)
class CardAdmin(ReadOnlyAdminMixin, ScopedBillingAdmin):
    list_display = ["number", "holder", "balance", "updated_at"]
    search_fields = ["number", "holder__username"]
    list_select_related = ["holder"]
    fields = ["number", "holder", "balance", "updated_at"]
    readonly_fields = fields


@admin.register(CardMovement)
class CardMovementAdmin(ReadOnlyAdminMixin, ScopedBillingAdmin):
    list_display = ["created_at", "card", "kind", "amount", "balance_after", "payment", "entry"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["card__number"]
    list_select_related = ["card"]


#
# The ledger (read-only) and the gateway's book
#


class JournalLegInline(_ReadOnlyInline):
    model = JournalLeg
    fields = ["account", "amount", "provider", "bill"]


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdminMixin, CityWideAdmin):
    list_display = ["id", "created_at", "kind", "memo", "payment", "reverses", "total"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "memo", "=payment__id"]
    inlines = [JournalLegInline]
    fields = ["kind", "memo", "payment", "reverses", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            debits=Sum("legs__amount", filter=Q(legs__amount__gt=0)))

    @admin.display(description=_("amount"), ordering="debits")
    def total(self, entry):
        return entry.debits


@admin.register(JournalLeg)
class JournalLegAdmin(ReadOnlyAdminMixin, CityWideAdmin):
    list_display = ["entry", "entry_at", "account", "amount", "provider", "bill"]
    list_filter = ["provider", "entry__kind", ("entry__created_at", admin.DateFieldListFilter)]
    search_fields = ["account", "bill__bill_number"]
    list_select_related = ["entry", "provider", "bill"]

    @admin.display(description=_("at"), ordering="entry__created_at")
    def entry_at(self, leg):
        return leg.entry.created_at


@admin.register(GatewayCharge)
class GatewayChargeAdmin(ReadOnlyAdminMixin, CityWideAdmin):
    list_display = ["reference", "merchant_reference", "amount", "status", "created_at", "settled_at"]
    list_filter = ["status", ("settled_at", admin.DateFieldListFilter)]
    search_fields = ["reference", "merchant_reference"]


#
# Reconciliation
#


class ReconciliationExceptionInline(_ReadOnlyInline):
    model = ReconciliationException
    fields = ["kind", "payment", "bill", "reference", "expected", "found", "detail", "resolved_at"]


class ReportForm(forms.Form):
    start = forms.DateField(label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    provider = forms.ModelChoiceField(label=_("provider"), queryset=Provider.objects.none(), required=False,
                                      to_field_name="code")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = provider_list()


class RunForm(forms.Form):
    day = forms.DateField(label=_("day"), widget=forms.DateInput(attrs={"type": "date"}))


REPORT_DAYS = 31


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, CityWideAdmin):
    change_list_template = "admin/billing/reconciliationrun/change_list.html"
    list_display = ["day", "provider", "payments_count", "payments_total", "ledger_total", "gateway_total",
                    "matched_count", "exceptions_count", "ran_at"]
    list_filter = ["provider", ("day", admin.DateFieldListFilter)]
    list_select_related = ["provider"]
    inlines = [ReconciliationExceptionInline]
    fields = list_display
    readonly_fields = fields

    def get_urls(self):
        report = self.admin_site.admin_view(self.report_view)
        return [path("report/", report, name="billing_reconciliation_report"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "report_url": reverse("admin:billing_reconciliation_report")}
        return super().changelist_view(request, extra_context)

    def report_rows(self, runs) -> list[dict]:
        return [{"run": run, "exceptions": list(run.exceptions.all())} for run in runs]

    def report_view(self, request):
        """The reconciliation by provider and day: each run's counts and totals, with its exceptions;
        billing staff who may handle run it again for a day. ?_export=csv|xlsx answers the table."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run_form = RunForm(request.POST or None)
        if request.method == "POST":
            if not self.has_handle_permission(request):
                raise PermissionDenied
            if run_form.is_valid():
                day = run_form.cleaned_data["day"]
                runs = [services.reconcile(provider=provider, day=day) for provider in provider_list()]
                exceptions = sum(run.exceptions_count for run in runs)
                self.message_user(request, ngettext(
                    "%(day)s reconciled for %(n)d provider: %(exceptions)d exceptions.",
                    "%(day)s reconciled for %(n)d providers: %(exceptions)d exceptions.", len(runs))
                    % {"day": day.isoformat(), "n": len(runs), "exceptions": exceptions},
                    messages.WARNING if exceptions else messages.SUCCESS)
                url = reverse("admin:billing_reconciliation_report")
                return HttpResponseRedirect(f"{url}?start={day.isoformat()}&end={day.isoformat()}")
        form = ReportForm(request.GET or None)
        today = timezone.localdate()
        start, end, provider = today - timedelta(days=7), today, None
        if form.is_valid():
            start = form.cleaned_data["start"] or start
            end = form.cleaned_data["end"] or end
            provider = form.cleaned_data["provider"]
        if end < start:
            start, end = end, start
        start = max(start, end - timedelta(days=REPORT_DAYS * 12))
        runs = reconciliation_report(provider=provider).filter(day__gte=start, day__lte=end)
        fmt = request.GET.get("_export")
        if fmt:
            if fmt not in FORMATS:
                raise Http404
            return self._report_export(runs, fmt, start, end)
        totals = runs.aggregate(payments=Sum("payments_count"), paid=Sum("payments_total"),
                                ledger=Sum("ledger_total"), gateway=Sum("gateway_total"),
                                matched=Sum("matched_count"), exceptions=Sum("exceptions_count"), runs=Count("id"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Reconciliation by provider and day"),
            "opts": self.model._meta,
            "form": form,
            "run_form": run_form if request.method == "POST" else RunForm(initial={"day": today - timedelta(days=1)}),
            "may_run": self.has_handle_permission(request),
            "rows": self.report_rows(runs),
            "totals": totals,
            "start": start,
            "end": end,
            "query": request.GET.urlencode(),
            "export_formats": list(FORMATS),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/billing/reconciliation_report.html", context)

    def _report_export(self, runs, fmt: str, start: date, end: date):
        header = [gettext("day"), gettext("provider"), gettext("payments"), gettext("paid"),
                  gettext("in the ledger"), gettext("settled by the gateway"), gettext("matched"),
                  gettext("exceptions"), gettext("exception kinds")]

        def rows():
            yield header
            for run in runs:
                kinds = sorted({str(exception.get_kind_display()) for exception in run.exceptions.all()})
                yield [run.day, run.provider.name, run.payments_count, run.payments_total, run.ledger_total,
                       run.gateway_total, run.matched_count, run.exceptions_count, "; ".join(kinds)]

        name = f"reconciliation-{start.isoformat()}-{end.isoformat()}.{fmt}"
        if fmt == "csv":
            response = StreamingHttpResponse(csv_lines(rows()), content_type=FORMATS["csv"])
        else:
            response = HttpResponse(xlsx_bytes(rows(), title=gettext("reconciliation")), content_type=FORMATS["xlsx"])
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


@admin.register(ReconciliationException)
class ReconciliationExceptionAdmin(ReadOnlyAdminMixin, CityWideAdmin):
    list_display = ["run", "kind", "payment", "bill", "reference", "expected", "found", "detail", "resolved_at"]
    list_filter = ["kind", "run__provider", ("run__day", admin.DateFieldListFilter)]
    search_fields = ["reference", "=payment__id", "bill__bill_number"]
    list_select_related = ["run__provider", "payment", "bill"]

