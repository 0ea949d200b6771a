"""django-filter FilterSets of the booking API's lists."""

from datetime import datetime, time, timedelta

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from services.booking.models import Booking, BookingStatus, PointKind, Resource, Service, ServicePoint, Slot
from services.booking.selectors import slot_available_q

__all__ = ["BookingFilter", "PointFilter", "ResourceFilter", "ServiceFilter", "SlotFilter"]


class PointFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=PointKind.choices, label=_("kind"))

    class Meta:
        model = ServicePoint
        fields = ["kind"]


class ServiceFilter(django_filters.FilterSet):
    class Meta:
        model = Service
        fields = ["point", "department"]


class ResourceFilter(django_filters.FilterSet):
    service = django_filters.ModelChoiceFilter(queryset=Service.objects.all(), field_name="services",
                                               label=_("offers the service"))

    class Meta:
        model = Resource
        fields = ["point", "department", "kind", "service"]


def _day_start(day):
    return datetime.combine(day, time(), tzinfo=timezone.get_current_timezone())


class SlotFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(method="filter_date_from", label=_("starting on or after this day"))
    date_to = django_filters.DateFilter(method="filter_date_to", label=_("starting on or before this day"))
    available = django_filters.BooleanFilter(method="filter_available",
                                             label=_("with a free place (true) or without (false)"))

    class Meta:
        model = Slot
        fields = ["point", "service", "resource", "date_from", "date_to", "available"]

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(start__gte=_day_start(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(start__lt=_day_start(value + timedelta(days=1)))

    def filter_available(self, queryset, name, value):
        return queryset if value is None else queryset.filter(slot_available_q(value))


class BookingFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=BookingStatus.choices, label=_("status (repeat for several)"))

    class Meta:
        model = Booking
        fields = ["status"]
