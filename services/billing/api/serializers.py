"""Serializers of the billing API. Amounts cross the API as strings with two decimals ("123.45")."""

from rest_framework import serializers

from civic.models import Notice
from services.billing.models import (
    Bill,
    BillLine,
    Card,
    CardMovement,
    Payment,
    PaymentBill,
    Provider,
    Subscription,
    UtilityAccount,
)

__all__ = [
    "AccountSerializer",
    "BillDetailSerializer",
    "BillSerializer",
    "CardMovementSerializer",
    "CardSerializer",
    "PaymentCreateSerializer",
    "PaymentSerializer",
    "ProviderBillSerializer",
    "ProviderPaymentSerializer",
    "ProviderSerializer",
    "ProviderSubscriptionSerializer",
    "SubscriptionApplySerializer",
    "SubscriptionSerializer",
    "TopUpSerializer",
]


class Money(serializers.DecimalField):
    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=2, coerce_to_string=True, **kwargs)


class Period(serializers.Field):
    def to_representation(self, value):
        return value.strftime("%Y-%m")


class ProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["code", "name", "kind", "allows_partial_payment"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="provider.code", read_only=True)

    class Meta:
        model = UtilityAccount
        fields = ["id", "provider", "account_number", "holder_name", "address"]
        read_only_fields = fields


class SubscriptionSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="account.provider.code", read_only=True)
    account_number = serializers.CharField(source="account.account_number", read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "provider", "account_number", "status", "proof_method", "channels", "reason", "applied_at",
                  "decided_at", "cancelled_at"]
        read_only_fields = fields


class SubscriptionApplySerializer(serializers.Serializer):
    provider = serializers.SlugRelatedField(slug_field="code", queryset=Provider.objects.filter(active=True))
    account_number = serializers.CharField(max_length=64)
    holder_name = serializers.CharField(max_length=100)
    proof_method = serializers.ChoiceField(choices=Subscription.Proof.choices)
    proof_value = serializers.CharField(max_length=64)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Notice.Channel.choices), required=False,
                                     max_length=3)


class BillLineSerializer(serializers.ModelSerializer):
    amount = Money(read_only=True)

    class Meta:
        model = BillLine
        fields = ["description", "amount"]
        read_only_fields = fields


class BillSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="provider.code", read_only=True)
    provider_name = serializers.CharField(source="provider.name", read_only=True)
    account_number = serializers.CharField(source="account.account_number", read_only=True)
    period = Period(read_only=True)
    amount = Money(read_only=True)
    amount_paid = Money(read_only=True)

    class Meta:
        model = Bill
        fields = ["id", "provider", "provider_name", "bill_number", "account_number", "period", "description",
                  "amount", "amount_paid", "currency", "due_date", "payment_reference", "status", "version",
                  "issued_at", "paid_at"]
        read_only_fields = fields


class BillDetailSerializer(BillSerializer):
    lines = BillLineSerializer(many=True, read_only=True)
    supersedes = serializers.CharField(source="supersedes.bill_number", read_only=True, default=None)

    class Meta(BillSerializer.Meta):
        fields = [*BillSerializer.Meta.fields, "supersedes", "lines"]
        read_only_fields = fields


class PaymentBillSerializer(serializers.ModelSerializer):
    amount = Money(read_only=True)

    class Meta:
        model = PaymentBill
        fields = ["bill", "amount"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    amount = Money(read_only=True)
    bills = serializers.SerializerMethodField()
    gateway_url = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = ["id", "status", "method", "purpose", "amount", "currency", "bills", "gateway_url", "created_at",
                  "settled_at"]
        read_only_fields = fields

    def get_bills(self, payment) -> list[int]:
        return [item.bill_id for item in payment.items.all()]

    def get_gateway_url(self, payment) -> str | None:
        url = self.context.get("gateway_url")
        if url is None and payment.gateway_reference and payment.status == Payment.Status.PENDING:
            from services.billing.gateway import charge_url

            url = charge_url(payment.gateway_reference)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request is not None else url


class PaymentCreateSerializer(serializers.Serializer):
    bills = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=100)
    method = serializers.ChoiceField(choices=Payment.Method.choices)


class TopUpSerializer(serializers.Serializer):
    amount = serializers.CharField(max_length=20, help_text='A string such as "100.00".')


class CardMovementSerializer(serializers.ModelSerializer):
    amount = Money(read_only=True)
    balance_after = Money(read_only=True)

    class Meta:
        model = CardMovement
        fields = ["id", "kind", "amount", "balance_after", "payment", "created_at"]
        read_only_fields = fields


class CardSerializer(serializers.ModelSerializer):
    balance = Money(read_only=True)
    movements = serializers.SerializerMethodField()

    class Meta:
        model = Card
        fields = ["number", "balance", "movements"]
        read_only_fields = fields

    def get_movements(self, card) -> list[dict]:
        return CardMovementSerializer(self.context.get("movements", []), many=True).data


#
# Providers
#


class ProviderBillSerializer(serializers.ModelSerializer):
    account_number = serializers.CharField(source="account.account_number", read_only=True)
    period = Period(read_only=True)
    amount = Money(read_only=True)
    amount_paid = Money(read_only=True)

    class Meta:
        model = Bill
        fields = ["id", "bill_number", "account_number", "period", "amount", "amount_paid", "due_date",
                  "payment_reference", "status", "version", "issued_at", "paid_at", "voided_at"]
        read_only_fields = fields


class ProviderSubscriptionSerializer(serializers.ModelSerializer):
    account_number = serializers.CharField(source="account.account_number", read_only=True)
    holder_name = serializers.CharField(source="account.holder_name", read_only=True)
    proof_matches = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = ["id", "account_number", "holder_name", "status", "proof_method", "proof_value", "proof_matches",
                  "applied_at", "decided_at", "reason"]
        read_only_fields = fields

    def get_proof_matches(self, subscription) -> bool | None:
        from services.billing.services import proof_matches

        return proof_matches(subscription)


class ProviderPaymentSerializer(serializers.ModelSerializer):
    """One paid bill of a day's payments, for the provider's reconciliation."""

    payment = serializers.IntegerField(source="payment_id")
    bill_number = serializers.CharField(source="bill.bill_number")
    account_number = serializers.CharField(source="bill.account.account_number")
    payment_reference = serializers.CharField(source="bill.payment_reference")
    amount = Money()
    method = serializers.CharField(source="payment.method")
    settled_at = serializers.DateTimeField(source="payment.settled_at")

    class Meta:
        model = PaymentBill
        fields = ["payment", "bill_number", "account_number", "payment_reference", "amount", "method", "settled_at"]
        read_only_fields = fields
