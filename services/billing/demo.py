"""Demo data for e-billing (``manage.py seed_demo``, via grid.demo.register_seeder): the seven
utilities, each a partner with the fixed key ``civic-demo-<code>`` (scope billing.provider, listed in
the README: demo data only); the demo `citizen` subscribed to each, with this month's bill unpaid and
the months before paid (through the journal, like any payment), ¥1,000.00 on the one-card; and the
billing-staff account `billing`. A second run creates nothing new."""

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from grid.demo.accounts import ensure_demo_user
from partners.keys import key_hash
from partners.models import ApiKey, Scope
from partners.services import api_key_create, partner_ensure
from services.billing import services
from services.billing.models import Bill, CardMovement, Provider, Subscription

__all__ = ["CARD_OPENING", "PROVIDERS", "provider_key", "seed"]

# code, name, kind, account number prefix, the monthly amount's base
PROVIDERS = [
    ("power", "内蒙古电力呼和浩特供电公司", Provider.Kind.ELECTRICITY, "0471", Decimal("128.40")),
    ("telecom", "中国电信呼和浩特分公司", Provider.Kind.TELECOM, "TEL", Decimal("59.00")),
    ("mobile", "中国移动呼和浩特分公司", Provider.Kind.MOBILE, "MOB", Decimal("88.00")),
    ("unicom", "中国联通呼和浩特分公司", Provider.Kind.UNICOM, "UNI", Decimal("39.00")),
    ("cabletv", "呼和浩特广电网络", Provider.Kind.CABLE_TV, "CTV", Decimal("26.50")),
    ("water", "呼和浩特首创春华水务", Provider.Kind.WATER, "WTR", Decimal("42.30")),
    ("citygas", "呼和浩特中燃城市燃气", Provider.Kind.GAS, "GAS", Decimal("76.80")),
]
CARD_OPENING = Decimal("1000.00")
PAID_MONTHS = 3


def provider_key(code: str) -> str:
    return f"civic-demo-{code}"


def _month(today: date, back: int) -> date:
    year, month = today.year, today.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


def seed(*, actor) -> str:
    citizen = get_user_model().objects.get(username="citizen")
    today = timezone.localdate()
    for code, name, kind, prefix, base in PROVIDERS:
        partner = partner_ensure(actor=None, code=f"billing-{code}", name=name, contact=name)
        if not ApiKey.objects.filter(key_hash=key_hash(provider_key(code))).exists():
            api_key_create(actor=None, partner=partner, scopes=[str(Scope.BILLING_PROVIDER)], name="demo",
                           key=provider_key(code))
        provider = services.provider_ensure(code=code, name=name, kind=kind, partner=partner)
        account_number = f"{prefix}{citizen.pk:08d}"
        items = []
        for back in range(PAID_MONTHS, -1, -1):
            period = _month(today, back)
            amount = base + Decimal(back * 7) / Decimal(10)
            due = period + timedelta(days=40) if back else max(today + timedelta(days=10), period + timedelta(days=20))
            items.append({"bill_number": f"{code.upper()}-{period:%Y%m}-{citizen.pk}", "account_number": account_number,
                          "holder_name": citizen.get_full_name() or "陈明", "address": "呼和浩特市新城区",
                          "period": f"{period:%Y-%m}", "amount": str(amount), "due_date": due.isoformat(),
                          "lines": [{"description": "基本费用", "amount": str(amount - Decimal("5.00"))},
                                    {"description": "附加费", "amount": "5.00"}]})
        if not Bill.objects.filter(provider=provider, bill_number=items[0]["bill_number"]).exists():
            # The bills of the months before come first, the subscription then, this month's bill last
            # (so the citizen is told of it like any new bill).
            services.bills_push(provider=provider, items=items[:-1])
            account = provider.accounts.get(account_number=account_number)
            subscription = Subscription.objects.filter(citizen=citizen, account=account).first()
            if subscription is None:
                subscription = services.subscription_apply(
                    citizen=citizen, provider=provider, account_number=account_number,
                    holder_name=account.holder_name, proof_method=Subscription.Proof.LAST_AMOUNT,
                    proof_value=items[-2]["amount"], channels=["in_app", "sms"])
                services.subscription_confirm(actor=partner.user, subscription=subscription)
            services.bills_push(provider=provider, items=items[-1:])
    card = services.card_ensure(holder=citizen)
    if not CardMovement.objects.filter(card=card, kind=CardMovement.Kind.OPENING).exists():
        # Enough to pay the months before, leaving ¥1,000.00 once they are paid from the card.
        earlier = list(Bill.objects.filter(citizen=citizen, status=Bill.Status.ISSUED, period__lt=_month(today, 0))
                       .order_by("period", "id"))
        services.card_opening_balance(card=card, amount=CARD_OPENING + sum((b.amount for b in earlier), Decimal(0)),
                                      memo="demo opening balance")
        for bill in earlier:
            services.payment_create(payer=citizen, bill_ids=[bill.pk], method="card")
    staff = ensure_demo_user("billing", name="王会计", staff=True)
    services.billing_staff_ensure(user=staff)
    card.refresh_from_db()
    return (f"Billing: {len(PROVIDERS)} providers with keys civic-demo-<code> "
            f"({', '.join(code for code, *_rest in PROVIDERS)}); citizen's one-card ¥{card.balance}; "
            "billing staff 'billing'.")
