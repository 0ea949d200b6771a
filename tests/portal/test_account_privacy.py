"""Accounts cannot be enumerated and codes cannot be flooded (issue 9, item 5): a known and an unknown
phone number or e-mail get the same answers on every page; the owner of a known one learns the rest
by SMS or e-mail; code requests are limited per address and per client, and the limits are logged;
the API's token endpoint answers a locked-out account 429 with Retry-After."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from civic.models import AuditEvent, Notice
from portal.models import Profile, VerificationCode

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "Hohhot-grid-2026!"
EN = {"accept-language": "en"}
KNOWN, UNKNOWN = "13900000001", "13900000002"


@pytest.fixture(autouse=True)
def _deliver_in_process(monkeypatch):
    from civic.tasks import deliver_notice

    monkeypatch.setattr(deliver_notice, "delay", lambda *args, **kwargs: deliver_notice.apply(args, kwargs))


@pytest.fixture
def owner():
    user = User.objects.create_user(username=f"p{KNOWN}", phone=KNOWN, email="owner@example.cn", password=PASSWORD,
                                    language="zh-hans")
    Profile.objects.create(user=user, verified_at=timezone.now())
    return user


def _page(response) -> str:
    """The page as a visitor sees it, without what differs on every render (the CSRF token)."""
    body = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)


def _as_if(body: str, number: str, instead: str) -> str:
    return body.replace(number, instead)


def _sms_to(number: str) -> list[Notice]:
    return list(Notice.objects.filter(channel=Notice.Channel.SMS, recipient__phone=number))


#
# Password reset by phone
#


def _reset_with_wrong_codes(number: str, tries: int) -> list:
    client = Client()
    responses = [client.post("/accounts/phone-reset/", {"phone": number}, headers=EN)]
    sent = [re.search(r"\b(\d{6})\b", n.body).group(1) for n in _sms_to(number)]
    wrong = "111111" if "000000" in sent else "000000"
    for _ in range(tries):
        responses.append(client.post("/accounts/phone-reset/code/", {
            "code": wrong, "new_password1": "Another-Grid-2026?", "new_password2": "Another-Grid-2026?"}, headers=EN))
    return responses


def test_a_wrong_reset_code_gets_the_same_answer_for_a_known_and_an_unknown_number(owner):
    """Before: "Attempts left: 4" for the known number, a bare "The code is wrong." for the other."""
    known = _reset_with_wrong_codes(KNOWN, 6)
    assert VerificationCode.objects.get(user=owner).attempts == 5
    unknown = _reset_with_wrong_codes(UNKNOWN, 6)
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [302, 200, 200, 200, 200, 200, 200]
    for mine, theirs in zip(known[1:], unknown[1:], strict=True):
        assert _page(mine) == _page(theirs)
    assert "Attempts left: 4" in _page(known[1]) and "Too many wrong attempts" in _page(known[-1])
    assert len(_sms_to(KNOWN)) == 1 and not Notice.objects.exclude(recipient=owner).exists()


def test_a_password_too_like_the_number_is_refused_alike(owner):
    """The stand-in for a number without an account carries the typed number, as the account does."""
    pages = []
    for number in (KNOWN, UNKNOWN):
        client = Client()
        client.post("/accounts/phone-reset/", {"phone": number})
        response = client.post("/accounts/phone-reset/code/", {
            "code": "000000", "new_password1": f"p{number}", "new_password2": f"p{number}"}, headers=EN)
        pages.append(_as_if(_page(response), number, "NUMBER"))
    assert pages[0] == pages[1] and "too similar" in pages[0]


#
# Sign-up
#


def _signup(client, **data):
    return client.post("/accounts/signup/", {"phone": "", "email": "", "password1": PASSWORD,
                                             "password2": PASSWORD, **data}, headers=EN)


def test_signing_up_with_a_taken_number_answers_like_a_fresh_sign_up(owner):
    """Before: "This phone number already has an account" on the form."""
    taken_client, fresh_client = Client(), Client()
    taken, fresh = _signup(taken_client, phone=KNOWN), _signup(fresh_client, phone=UNKNOWN)
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"]) == (302,
                                                                                              "/accounts/verify/")
    pages = [_as_if(_page(c.get("/accounts/verify/", headers=EN)), n, "NUMBER")
             for c, n in ((taken_client, KNOWN), (fresh_client, UNKNOWN))]
    assert pages[0] == pages[1]
    wrong = [_as_if(_page(c.post("/accounts/verify/", {"code": "000000"}, headers=EN)), n, "NUMBER")
             for c, n in ((taken_client, KNOWN), (fresh_client, UNKNOWN))]
    if "Attempts left: 4" in wrong[1]:  # unless the fresh code happened to be 000000
        assert wrong[0] == wrong[1]
    assert User.objects.filter(phone=KNOWN).count() == 1 and not owner.verification_codes.exists()


def test_the_owner_of_a_taken_number_is_told_in_their_own_language(owner):
    _signup(Client(), phone=KNOWN)
    (sms,) = _sms_to(KNOWN)
    assert sms.template == "portal/signup_attempt" and "注册" in sms.body
    assert not Notice.objects.filter(recipient=owner, channel=Notice.Channel.EMAIL).exists()


def test_the_owner_of_a_taken_email_is_told_by_email(owner):
    _signup(Client(), email="Owner@Example.cn")
    (notice,) = Notice.objects.filter(recipient=owner)
    assert (notice.channel, notice.template) == (Notice.Channel.EMAIL, "portal/signup_attempt")


def test_the_code_of_a_taken_sign_up_never_works_whatever_is_typed(owner):
    client = Client()
    _signup(client, phone=KNOWN)
    decoy = VerificationCode.objects.get()
    assert decoy.user is None
    for guess in ("000000", "123456", "999999"):
        assert client.post("/accounts/verify/", {"code": guess}).status_code == 200
    assert "_auth_user_id" not in client.session and User.objects.count() == 1


#
# Limits
#


def test_ten_reset_requests_for_one_number_send_three_codes(owner):
    responses = [Client(REMOTE_ADDR=f"10.0.0.{i}").post("/accounts/phone-reset/", {"phone": KNOWN}, headers=EN)
                 for i in range(10)]
    assert [r.status_code for r in responses] == [302] * 3 + [200] * 7
    assert "Too many codes were requested" in _page(responses[3])
    assert len(_sms_to(KNOWN)) == 3


def test_the_limit_answers_a_known_and_an_unknown_number_alike(owner):
    pages = {}
    for number in (KNOWN, UNKNOWN):
        for i in range(3):
            Client(REMOTE_ADDR=f"10.1.{len(pages)}.{i}").post("/accounts/phone-reset/", {"phone": number})
        response = Client(REMOTE_ADDR=f"10.2.{len(pages)}.0").post("/accounts/phone-reset/", {"phone": number},
                                                                 headers=EN)
        pages[number] = _as_if(_page(response), number, "NUMBER")
    assert pages[KNOWN] == pages[UNKNOWN] and "Too many codes" in pages[KNOWN]


def test_one_client_gets_three_codes_whatever_the_numbers(owner):
    client = Client(REMOTE_ADDR="10.9.9.9")
    statuses = [client.post("/accounts/phone-reset/", {"phone": f"1390000010{i}"}).status_code for i in range(4)]
    assert statuses == [302, 302, 302, 200]
    assert Client(REMOTE_ADDR="10.9.9.8").post("/accounts/phone-reset/", {"phone": KNOWN}).status_code == 302


def test_sign_ups_and_resends_count_against_the_same_limit(owner):
    client = Client(REMOTE_ADDR="10.3.0.1")
    assert _signup(client, phone=UNKNOWN).status_code == 302
    assert client.post("/accounts/verify/resend/").status_code == 302
    assert client.post("/accounts/verify/resend/").status_code == 302
    response = client.post("/accounts/verify/resend/", headers=EN, follow=True)
    assert "Too many codes" in _page(response) and "We sent you a new code" not in _page(response)
    user = User.objects.get(phone=UNKNOWN)
    assert Notice.objects.filter(recipient=user, template="portal/verification_code").count() == 3


def test_email_reset_links_are_limited_too(owner):
    from django.core import mail

    for i in range(4):
        Client(REMOTE_ADDR=f"10.4.0.{i}").post("/accounts/password-reset/", {"email": "owner@example.cn"})
    assert len(mail.outbox) == 3


def test_a_limit_reached_is_logged_once_per_lock_out(owner, caplog):
    for i in range(5):
        Client(REMOTE_ADDR=f"10.5.0.{i}").post("/accounts/phone-reset/", {"phone": KNOWN})
    (event,) = AuditEvent.objects.filter(action="ratelimit.refused")
    assert event.summary == "portal.code.address" and event.ip == "10.5.0.3"
    assert KNOWN not in str(event.detail)
    assert any("portal.code.address" in r.getMessage() for r in caplog.records if r.name == "civic.ratelimit")


#
# The API's token endpoint
#


@pytest.mark.parametrize("username", ["admin", "nobody-by-that-name"])
def test_a_locked_account_gets_429_with_retry_after_in_the_api_error_shape(admin_user, username):
    client = Client()
    for _ in range(5):
        assert client.post("/api/v1/auth/token/", {"username": username, "password": "wrong"}).status_code == 400
    response = client.post("/api/v1/auth/token/", {"username": username, "password": "password"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (429, "locked_out") and error["message"]
