"""Citizen accounts: sign-up with a code through the notices outbox, login by phone or e-mail,
lockout, password reset, profile, CSRF."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from civic.models import Notice
from civic.notices import default_channels
from portal.models import Profile, VerificationCode

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "Hohhot-grid-2026!"
EN = {"accept-language": "en"}


@pytest.fixture(autouse=True)
def _deliver_in_process(monkeypatch):
    """These tests read what was delivered: run the delivery task in-process even when REDIS_URL
    points Celery at a real broker (CI); the worker round-trip has its own test."""
    from civic.tasks import deliver_notice

    monkeypatch.setattr(deliver_notice, "delay", lambda *args, **kwargs: deliver_notice.apply(args, kwargs))


def _signup(client, **data):
    payload = {"phone": "", "email": "", "password1": PASSWORD, "password2": PASSWORD, **data}
    return client.post("/accounts/signup/", payload, headers=EN)


def _code(user, channel):
    notice = Notice.objects.filter(recipient=user, channel=channel, template="portal/verification_code").first()
    return re.search(r"\b(\d{6})\b", notice.body).group(1)


def _citizen(phone="13900000001", email=""):
    user = User.objects.create_user(username=f"p{phone}", phone=phone or None, email=email, password=PASSWORD)
    Profile.objects.create(user=user, verified_at=timezone.now())
    return user


def test_signup_by_phone_sends_an_sms_code_and_verifying_logs_in(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _signup(client, phone="138 0000 0000")
    assert response.status_code == 302 and response["Location"] == "/accounts/verify/"
    user = User.objects.get(phone="13800000000")
    assert not user.is_active and user.username == "p13800000000"
    notice = Notice.objects.get(recipient=user)
    assert notice.channel == Notice.Channel.SMS and notice.status == Notice.Status.SENT
    code = _code(user, Notice.Channel.SMS)
    assert code not in VerificationCode.objects.get(user=user).code_hash

    response = client.post("/accounts/verify/", {"code": code}, headers=EN)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_active and user.portal_profile.verified_at is not None
    assert client.get("/accounts/profile/", headers=EN).status_code == 200


def test_signup_by_email_sends_the_code_by_email(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _signup(client, email="Citizen@Example.cn")
    user = User.objects.get(email__iexact="citizen@example.cn")
    assert [n.channel for n in Notice.objects.filter(recipient=user)] == [Notice.Channel.EMAIL]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    code = re.search(r"\b(\d{6})\b", mail.outbox[0].body).group(1)
    assert client.post("/accounts/verify/", {"code": code}).status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_a_wrong_code_is_refused_next_to_the_field_and_keeps_what_was_typed(client):
    _signup(client, phone="13800000000")
    response = client.post("/accounts/verify/", {"code": "000000"}, headers=EN)
    user = User.objects.get(phone="13800000000")
    if _code(user, Notice.Channel.SMS) == "000000":  # one in a million
        return
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_code_error"' in body and "The code is wrong. Attempts left: 4." in body
    assert 'value="000000"' in body
    assert not User.objects.get(pk=user.pk).is_active


def test_the_code_dies_after_five_wrong_attempts(client):
    _signup(client, phone="13800000000")
    user = User.objects.get(phone="13800000000")
    code = _code(user, Notice.Channel.SMS)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(5):
        client.post("/accounts/verify/", {"code": wrong}, headers=EN)
    response = client.post("/accounts/verify/", {"code": code}, headers=EN)
    assert "Too many wrong attempts" in response.content.decode()
    assert not User.objects.get(pk=user.pk).is_active


def test_an_expired_code_is_refused(client):
    _signup(client, phone="13800000000")
    user = User.objects.get(phone="13800000000")
    VerificationCode.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post("/accounts/verify/", {"code": _code(user, Notice.Channel.SMS)}, headers=EN)
    assert "This code has expired" in response.content.decode()


def test_a_replaced_code_is_refused_and_the_new_one_works(client):
    _signup(client, phone="13800000000")
    user = User.objects.get(phone="13800000000")
    first = _code(user, Notice.Channel.SMS)
    client.post("/accounts/verify/resend/")
    second = Notice.objects.filter(recipient=user).order_by("-id").first()
    second_code = re.search(r"\b(\d{6})\b", second.body).group(1)
    if first != second_code:
        response = client.post("/accounts/verify/", {"code": first}, headers=EN)
        assert "The code is wrong" in response.content.decode()
    assert client.post("/accounts/verify/", {"code": second_code}).status_code == 302


def test_a_used_code_cannot_be_used_again():
    from portal.accounts.services import CodeError, account_create, code_check, code_send

    user = account_create(phone="13800000000", email="", password=PASSWORD, language="en")
    code_send(user=user)
    code = _code(user, Notice.Channel.SMS)
    code_check(user=user, code=code)
    with pytest.raises(CodeError):
        code_check(user=user, code=code)


def test_signup_needs_a_phone_or_an_email_and_a_good_password(client):
    body = _signup(client).content.decode()
    assert "Enter a phone number or an e-mail address." in body
    body = _signup(client, phone="13800000000", password1="123", password2="123").content.decode()
    assert 'id="id_password1_error"' in body
    assert not User.objects.exists()


def test_login_by_phone_and_by_email(client):
    _citizen(phone="13900000001", email="Someone@Example.cn")
    for identifier in ("13900000001", "+86 139 0000 0001", "someone@example.CN"):
        response = client.post("/accounts/login/", {"username": identifier, "password": PASSWORD})
        assert response.status_code == 302, identifier
        assert client.post("/accounts/logout/").status_code == 302
        assert "_auth_user_id" not in client.session


def test_an_unverified_account_cannot_log_in(client):
    _signup(client, phone="13800000000")
    client.session.flush()
    response = Client().post("/accounts/login/", {"username": "13800000000", "password": PASSWORD}, headers=EN)
    assert response.status_code == 200 and "do not match an account" in response.content.decode()


def test_five_failed_logins_lock_the_account_out(client):
    _citizen(phone="13900000001")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "13900000001", "password": "wrong"}, headers=EN)
    response = client.post("/accounts/login/", {"username": "+8613900000001", "password": PASSWORD}, headers=EN)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_login_still_works(client, admin_user):
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "password"})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_password_reset_by_email_and_the_link_works_once(client):
    user = _citizen(phone="", email="reset@example.cn")
    user.language = "en"
    user.save()
    response = client.post("/accounts/password-reset/", {"email": "RESET@example.cn"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "Reset your Civic password" in mail.outbox[0].subject
    link = re.search(r"http://testserver(\S+)", mail.outbox[0].body).group(1)

    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    new = "Another-Grid-2026?"
    response = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/done/"
    assert Client().post("/accounts/login/", {"username": "reset@example.cn", "password": new}).status_code == 302

    response = Client().get(link, headers=EN, follow=True)
    assert "This password reset link is invalid" in response.content.decode()


def test_profile_saves_preferences_and_language(client):
    user = _citizen(email="prefs@example.cn")
    client.force_login(user, backend="portal.accounts.backends.PhoneOrEmailBackend")
    assert client.get("/accounts/profile/").status_code == 200
    response = client.post("/accounts/profile/", {"notify_email": "on", "language": "en"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    user.refresh_from_db()
    assert user.language == "en" and user.notify_email and not user.notify_sms and not user.notify_in_app
    # What civic.notices reads from now on: e-mail only (the citizen has a phone too).
    assert default_channels(user) == ["email"]


def test_profile_needs_login(client):
    assert client.get("/accounts/profile/")["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/accounts/signup/", "/accounts/login/", "/accounts/password-reset/"])
def test_forms_carry_a_csrf_token_and_refuse_posts_without_it(url):
    client = Client(enforce_csrf_checks=True)
    assert 'name="csrfmiddlewaretoken"' in client.get(url).content.decode()
    assert client.post(url, {"username": "x", "password": "y", "email": "a@b.cn"}).status_code == 403


def test_nav_links_render(client):
    from django.contrib.auth.models import AnonymousUser
    from django.template.loader import render_to_string

    html = render_to_string("portal/accounts/_nav.html", {"user": AnonymousUser()})
    assert "/accounts/login/" in html and "/accounts/signup/" in html


def test_phone_only_citizens_reset_their_password_with_an_sms_code(client):
    user = _citizen(phone="13900000001")
    response = client.post("/accounts/phone-reset/", {"phone": "139 0000 0001"})
    assert response.status_code == 302 and response["Location"] == "/accounts/phone-reset/code/"
    code = _code(user, Notice.Channel.SMS)
    new = "Another-Grid-2026?"
    wrong = "111111" if code != "111111" else "222222"
    data = {"code": wrong, "new_password1": new, "new_password2": new}
    body = client.post("/accounts/phone-reset/code/", data, headers=EN).content.decode()
    assert 'id="id_code_error"' in body and "The code is wrong" in body and f'value="{wrong}"' in body

    response = client.post("/accounts/phone-reset/code/", {**data, "code": code})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    user.refresh_from_db()
    assert user.check_password(new)
    # The code worked once.
    client.post("/accounts/phone-reset/", {"phone": "13900000002"})
    body = client.post("/accounts/phone-reset/code/", {**data, "code": code}, headers=EN).content.decode()
    assert 'id="id_code_error"' in body


def test_a_phone_reset_for_an_unknown_number_looks_the_same(client):
    response = client.post("/accounts/phone-reset/", {"phone": "13900000009"})
    assert response["Location"] == "/accounts/phone-reset/code/"
    assert not Notice.objects.exists()


def test_the_api_token_endpoint_still_works_and_locks_out(client, admin_user):
    assert client.post("/api/v1/auth/token/", {"username": "admin", "password": "password"}).status_code == 200
    for _ in range(5):
        client.post("/api/v1/auth/token/", {"username": "admin", "password": "wrong"})
    response = client.post("/api/v1/auth/token/", {"username": "admin", "password": "password"})
    assert response.status_code == 429 and "token" not in response.json()
