"""partners.services: partners and their service users, keys shown once and stored hashed, who may
create which key, revocation; the management command; the demo partner."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from civic.models import AuditEvent
from partners import demo
from partners.keys import key_hash
from partners.models import ApiKey, Partner
from partners.services import api_key_create, api_key_revoke, partner_ensure
from tests.partners.conftest import key_client

CASES = "/api/v1/issues/cases/"


#
# Partners
#


def test_a_partner_acts_as_its_own_service_user_that_cannot_sign_in(partner):
    user = partner.user
    assert user.username == "partner-utility"
    assert not user.has_usable_password() and not user.is_staff and not user.is_superuser
    assert AuditEvent.objects.filter(action="partner.created", target_id=str(partner.pk)).exists()


def test_partner_ensure_is_idempotent_and_updates(partner):
    again = partner_ensure(actor=None, code="utility", name="春华水务", contact="")
    assert again.pk == partner.pk and Partner.objects.count() == 1
    changed = partner_ensure(actor=None, code="utility", name="春华水务集团", contact="0471-1234567", active=False)
    assert (changed.name, changed.contact, changed.active) == ("春华水务集团", "0471-1234567", False)
    assert changed.user_id == partner.user_id


def test_a_partner_never_takes_over_an_existing_account(db, django_user_model):
    django_user_model.objects.create_user(username="partner-heating")
    with pytest.raises(ValidationError):
        partner_ensure(actor=None, code="heating", name="供热")
    assert not Partner.objects.exists()


def test_only_managers_manage_partners(city):
    with pytest.raises(PermissionDenied):
        partner_ensure(actor=city.users["street"], code="x", name="X")
    assert partner_ensure(actor=city.users["admin"], code="x", name="X").code == "x"


#
# Keys
#


def test_a_key_is_returned_once_and_stored_only_as_its_hmac(make_key):
    key, text = make_key(["cases.read"], name="工单同步")
    assert text.startswith("civic_") and len(text) > 40
    assert key.key_hash == key_hash(text) != text and len(key.key_hash) == 64
    assert key.prefix == text[:10]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM partners_apikey")
        assert text not in repr(cursor.fetchall())
    detail = AuditEvent.objects.get(action="api_key.created").detail
    assert detail == {"scopes": ["cases.read"], "node": None}


def test_two_keys_never_share_a_text(make_key):
    texts = {make_key(["cases.read"])[1] for _ in range(5)}
    assert len(texts) == 5


def test_a_fixed_key_text_is_stored_once(make_key):
    make_key(["cases.read"], key="fixed-demo-key-0001")
    with pytest.raises(ValidationError):
        make_key(["cases.read"], key="fixed-demo-key-0001")
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scopes": []}, "scopes"),
        ({"scopes": ["cases.read", "cases.delete"]}, "scopes"),
        ({"scopes": ["cases.read"], "expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
        ({"scopes": ["cases.read"], "key": "short"}, "key"),
        ({"scopes": ["cases.read"], "key": "has spaces in the key text"}, "key"),
    ],
)
def test_bad_keys_are_refused_and_nothing_is_stored(make_key, kwargs, field):
    with pytest.raises(ValidationError) as raised:
        make_key(**kwargs)
    assert field in raised.value.message_dict
    assert not ApiKey.objects.exists()


def test_a_key_carries_no_more_than_its_creator_holds(city, partner):
    street = city.users["street"]  # street officer of street A
    street.user_permissions.add(Permission.objects.get(codename="add_apikey"))
    street = type(street).objects.get(pk=street.pk)  # fresh: model permissions are cached per object

    key, _text = api_key_create(actor=street, partner=partner, scopes=["cases.write"], node=city.nodes["A1"])
    assert key.created_by == street
    for node in (city.nodes["B"], None):  # another street office; the whole city
        with pytest.raises(PermissionDenied):
            api_key_create(actor=street, partner=partner, scopes=["cases.read"], node=node)
    with pytest.raises(PermissionDenied):  # no model permission at all
        api_key_create(actor=city.users["director"], partner=partner, scopes=["cases.read"], node=city.nodes["A1"])
    assert ApiKey.objects.count() == 1


def test_revoking_is_immediate_recorded_and_idempotent(make_key, city):
    key, _text = make_key(["cases.read"])
    revoked = api_key_revoke(actor=city.users["admin"], key=key)
    first = revoked.revoked_at
    assert first is not None
    assert api_key_revoke(actor=city.users["admin"], key=key).revoked_at == first
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1
    with pytest.raises(PermissionDenied):
        api_key_revoke(actor=city.users["street"], key=key)


#
# The management command
#


def test_the_command_prints_a_working_key_once(city, partner, categories):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "utility", "--scope", "cases.read", "--node", city.nodes["B"].code,
                 "--days", "30", "--name", "nightly sync", stdout=out, stderr=err)
    text = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert key.key_hash == key_hash(text) and key.node == city.nodes["B"] and key.name == "nightly sync"
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)
    assert "not shown again" in err.getvalue() and text not in err.getvalue()
    assert key_client(text).get(CASES).status_code == 200


def test_the_command_creates_the_partner_when_named(db):
    out = StringIO()
    call_command("create_api_key", "contractor", "--scope", "cases.write", "--partner-name", "市政养护公司",
                 stdout=out, stderr=StringIO())
    assert Partner.objects.get(code="contractor").keys.get().key_hash == key_hash(out.getvalue().strip())


@pytest.mark.parametrize(
    "args",
    [
        ["nobody", "--scope", "cases.read"],
        ["utility", "--scope", "cases.read", "--node", "0000"],
        ["utility", "--scope", "cases.read", "--days", "0"],
        ["utility", "--scope", "cases.read", "--rate", "lots"],
    ],
)
def test_the_command_refuses_bad_input_and_stores_nothing(partner, args):
    with pytest.raises(CommandError):
        call_command("create_api_key", *args, stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


#
# Demo
#


def test_the_demo_hotline_is_seeded_once_and_its_key_works(city, categories):
    demo.seed(actor=city.users["admin"])
    demo.seed(actor=city.users["admin"])
    hotline = Partner.objects.get(code=demo.HOTLINE_CODE)
    assert hotline.name == "12345 市民热线"
    key = hotline.keys.get()
    assert key.scopes == ["cases.read", "cases.write", "open311"] and key.node is None
    assert key_client(demo.HOTLINE_KEY).get(CASES).status_code == 200
