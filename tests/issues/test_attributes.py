"""Category attributes: the extra answers a machine's report carries (issues.attributes), checked by
case_report for every channel that sends them, shown with the categories and stored with the case."""

import pytest
from django.core.exceptions import ValidationError

from issues import services
from issues.models import Case, CategoryAttribute
from tests.grid.utils import api_client, assert_error_shape
from tests.issues.helpers import point_in, row_counts

CASES = "/api/v1/issues/cases/"


@pytest.fixture
def heating(categories):
    category = categories["city-management"]
    CategoryAttribute.objects.create(category=category, code="temperature", datatype="number", required=True,
                                     order=1, description="室内温度", description_en="Indoor temperature")
    CategoryAttribute.objects.create(category=category, code="rooms", datatype="multivaluelist", order=2,
                                     description="房间", description_en="Rooms",
                                     values=[{"key": "bed", "name": "卧室"}, {"key": "living", "name": "客厅"}])
    CategoryAttribute.objects.create(category=category, code="since", datatype="datetime", order=3,
                                     description="开始", description_en="Since")
    CategoryAttribute.objects.create(category=category, code="note", datatype="string", order=4,
                                     description="备注", description_en="Note")
    return category


def _report(city, category, **kwargs):
    lat, lon = point_in(city.nodes["A1g1"])
    return services.case_report(actor=city.users["worker"], category=category, description="暖气不热",
                                lat=lat, lon=lon, **kwargs)


def test_answers_are_checked_converted_and_stored(city, heating):
    case = _report(city, heating, attributes={"temperature": " 14.50 ", "rooms": ["bed", "living", "bed"],
                                              "since": "2026-12-01T07:30:00+08:00"})
    assert Case.objects.get(pk=case.pk).attributes == {
        "temperature": "14.50", "rooms": ["bed", "living"], "since": "2026-12-01T07:30:00+08:00"}


@pytest.mark.parametrize(
    "answers",
    [
        {},  # the required one is missing
        {"temperature": "warm"},
        {"temperature": "nan"},
        {"temperature": "15", "rooms": ["kitchen"]},
        {"temperature": "15", "since": "2026-12-01T07:30:00"},  # no time zone
        {"temperature": "15", "note": "two\nlines"},
        {"temperature": "15", "colour": "blue"},  # not an attribute of the category
        {"temperature": ["15", "16"]},
    ],
)
def test_wrong_answers_refuse_the_report_and_store_nothing(city, heating, answers):
    before = row_counts()
    with pytest.raises(ValidationError) as raised:
        _report(city, heating, attributes=answers)
    assert "attributes" in raised.value.message_dict
    assert row_counts() == before


def test_a_channel_that_collects_no_answers_is_not_asked_for_them(city, heating):
    """The portal and the field app send none (None): a person describes the problem in words."""
    assert _report(city, heating).attributes == {}


def test_the_api_shows_a_categorys_attributes_and_takes_answers(city, heating):
    client = api_client(city.users["worker"])
    listed = {c["code"]: c for c in client.get("/api/v1/issues/categories/",
                                                headers={"accept-language": "en"}).json()}
    rooms = listed["city-management"]["attributes"][1]
    assert rooms == {"code": "rooms", "datatype": "multivaluelist", "required": False, "order": 2,
                     "question": "Rooms", "values": [{"key": "bed", "name": "卧室"}, {"key": "living", "name": "客厅"}]}
    lat, lon = point_in(city.nodes["A1g1"])
    payload = {"category": heating.pk, "description": "暖气不热", "lat": lat, "lon": lon,
               "media_url": "https://example.org/a.jpg"}
    refused = client.post(CASES, {**payload, "attributes": {"temperature": "cold"}}, format="json")
    assert "attributes" in assert_error_shape(refused, 400)["fields"]
    created = client.post(CASES, {**payload, "attributes": {"temperature": "12"}}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["attributes"] == {"temperature": "12"}
    assert created.json()["media_url"] == "https://example.org/a.jpg"


def test_list_types_need_values(categories):
    attribute = CategoryAttribute(category=categories["city-management"], code="extent",
                                  datatype="singlevaluelist", description="范围", description_en="Extent")
    with pytest.raises(ValidationError):
        attribute.full_clean()
    attribute.values = [{"key": "one", "name": "一户"}]
    attribute.full_clean()
