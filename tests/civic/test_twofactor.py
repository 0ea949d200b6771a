"""Staff two-factor authentication (issue 9, item 9): TOTP with recovery codes, required by
STAFF_2FA_REQUIRED for superusers and staff posted at a street office or above, asked of anyone who set
it up, in the admin, the field app, the API's sessions and its token endpoint."""

import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from civic.models import AuditEvent
from civic.twofactor import SESSION_KEY, recovery_codes_renew, totp_secret
from tests.factories import PASSWORD, CityBuilder

pytestmark = pytest.mark.django_db

ADMIN_PAGE = "/admin/grid/household/"
FIELD_PAGE = "/field/patrol/"


@pytest.fixture
def city(db):
    return CityBuilder().build()


@pytest.fixture
def required(settings):
    settings.STAFF_2FA_REQUIRED = True


def _code(device: TOTPDevice, ahead: int = 0) -> str:
    """The device's code now (or `ahead` steps on: a code is accepted once, the next step's within tolerance)."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + ahead):0{device.digits}d}"


def _enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def _login(username: str, where: str = "admin") -> Client:
    client = Client()
    url = "/admin/login/" if where == "admin" else "/field/login/"
    response = client.post(url, {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


#
# Who is asked
#


@pytest.mark.parametrize("username", ["admin", "district", "street", "dept"])
def test_a_required_user_cannot_reach_admin_or_field_pages_without_the_second_factor(city, required, username):
    client = _login(username)
    for page, code_page in ((ADMIN_PAGE, "/admin/2fa/"), ("/admin/", "/admin/2fa/"), (FIELD_PAGE, "/field/2fa/"),
                            ("/field/", "/field/2fa/")):
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith(f"{code_page}?next="), page
    # Neither through the API with the same session.
    assert client.get("/api/v1/grid/households/").status_code in (401, 403)


@pytest.mark.parametrize("username", ["worker", "director"])
def test_grid_and_community_staff_are_not_required(city, required, username):
    client = _login(username, "field")
    assert client.get(FIELD_PAGE).status_code == 200
    assert client.get(ADMIN_PAGE).status_code == 200


def test_without_the_setting_the_demo_accounts_log_in_with_their_password(city):
    for username in ("admin", "street", "district"):
        client = _login(username)
        assert client.get(ADMIN_PAGE).status_code == 200
        assert client.get("/api/v1/grid/households/").status_code == 200


def test_anyone_who_set_it_up_is_asked_even_without_the_setting(city):
    _enrolled(city.users["worker"])
    client = _login("worker", "field")
    assert client.get(FIELD_PAGE)["Location"].startswith("/field/2fa/")


def test_the_field_login_leads_to_the_code_page(city, required):
    _enrolled(city.users["street"])
    response = Client().post("/field/login/?next=/field/patrol/", {"username": "street", "password": PASSWORD},
                             follow=True)
    assert response.redirect_chain[-1][0] == "/field/2fa/?next=/field/patrol/"
    assert "Two-step login" in response.content.decode() or "两步登录" in response.content.decode()


#
# Enrolment, codes, recovery codes
#


def test_a_required_user_without_a_device_enrols_with_a_qr_code_made_here(city, required):
    client = _login("street")
    page = client.get("/admin/2fa/?next=/admin/grid/household/")
    body = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert "<svg" in body and not re.search(r'<img[^>]+src="https?:', body)
    device = TOTPDevice.objects.get(user=city.users["street"], confirmed=False)
    assert f'<code class="secret">{totp_secret(device)}</code>' in body

    response = client.post("/admin/2fa/", {"code": _code(device), "next": ADMIN_PAGE})
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert response.status_code == 200 and len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(ADMIN_PAGE).status_code == 200
    assert client.get(FIELD_PAGE).status_code == 200
    assert AuditEvent.objects.filter(action="twofactor.enrolled", actor=city.users["street"]).exists()


def test_a_wrong_code_is_refused_and_the_right_one_lets_in(city, required, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no pause after the failure (see the next test)
    device = _enrolled(city.users["district"])
    client = _login("district")
    response = client.post("/admin/2fa/", {"code": "000000" if _code(device) != "000000" else "111111",
                                           "next": ADMIN_PAGE})
    assert response.status_code == 400 and 'id="id_code_error"' in response.content.decode()
    assert client.get(ADMIN_PAGE).status_code == 302
    response = client.post("/admin/2fa/", {"code": _code(device), "next": ADMIN_PAGE})
    assert response.status_code == 302 and response["Location"] == ADMIN_PAGE
    assert client.get(ADMIN_PAGE).status_code == 200


def test_after_a_wrong_code_even_the_right_one_waits(city, required):
    """django-otp's throttling: each failure doubles the pause before the device verifies again."""
    device = _enrolled(city.users["district"])
    client = _login("district")
    client.post("/admin/2fa/", {"code": "000000" if _code(device) != "000000" else "111111"})
    assert client.post("/admin/2fa/", {"code": _code(device)}).status_code == 400


def test_a_code_is_good_once(city, required):
    device = _enrolled(city.users["district"])
    code = _code(device)
    first, second = _login("district"), _login("district")
    assert first.post("/admin/2fa/", {"code": code})["Location"] == "/admin/"
    assert second.post("/admin/2fa/", {"code": code}).status_code == 400


def test_a_recovery_code_lets_in_once(city, required):
    _enrolled(city.users["street"])
    code = recovery_codes_renew(user=city.users["street"])[0]
    client = _login("street", "field")
    assert client.post("/field/2fa/", {"code": code.upper()})["Location"] == "/field/"
    assert client.get(FIELD_PAGE).status_code == 200
    assert not StaticToken.objects.filter(token=code).exists()
    assert _login("street", "field").post("/field/2fa/", {"code": code}).status_code == 400
    assert AuditEvent.objects.filter(action="twofactor.recovery_code_used").count() == 1


def test_new_recovery_codes_replace_the_old_ones(city, required):
    device = _enrolled(city.users["street"])
    old = recovery_codes_renew(user=city.users["street"])
    client = _login("street")
    client.post("/admin/2fa/", {"code": _code(device)})
    response = client.post("/admin/2fa/", {"action": "recovery"})
    new = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(new)


def test_an_unverified_user_cannot_make_recovery_codes(city, required):
    _enrolled(city.users["street"])
    client = _login("street")
    assert client.post("/admin/2fa/", {"action": "recovery"}).status_code == 400
    assert not StaticToken.objects.exists()


def test_the_code_page_needs_a_password_login_first(city):
    assert Client().get("/admin/2fa/")["Location"].startswith("/admin/login/")
    assert Client().get("/field/2fa/")["Location"].startswith("/field/login/")


def test_next_must_stay_on_this_site(city, required):
    device = _enrolled(city.users["street"])
    client = _login("street")
    response = client.post("/admin/2fa/", {"code": _code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/admin/"


def test_a_session_learns_of_a_new_requirement_within_the_recheck_time(city, settings):
    client = _login("street")
    assert client.get(ADMIN_PAGE).status_code == 200
    settings.STAFF_2FA_REQUIRED = True
    assert client.get(ADMIN_PAGE).status_code == 200  # still the answer given at login
    session = client.session
    needed, pk, at = session[SESSION_KEY]
    session[SESSION_KEY] = [needed, pk, at - 301]
    session.save()
    assert client.get(ADMIN_PAGE)["Location"].startswith("/admin/2fa/")


def test_logout_stays_open(city, required):
    client = _login("street")
    response = client.post("/admin/logout/")
    assert response.status_code == 302 and "2fa" not in response["Location"]
    assert "_auth_user_id" not in client.session


#
# The API's token endpoint
#


def _token(username: str, **extra):
    return Client().post("/api/v1/auth/token/", {"username": username, "password": PASSWORD, **extra},
                         headers={"accept-language": "en"})


def test_the_token_endpoint_asks_for_the_code_of_those_who_need_it(city, required):
    device = _enrolled(city.users["street"])
    response = _token("street")
    assert response.status_code == 400 and "otp_token" in response.json()["error"]["fields"]
    assert not Token.objects.exists()
    response = _token("street", otp_token=_code(device))
    assert response.status_code == 200 and Token.objects.get(user=city.users["street"]).key == response.json()["token"]


def test_the_token_endpoint_sends_a_required_user_without_a_device_to_set_it_up(city, required):
    response = _token("district")
    message = response.json()["error"]["fields"]["otp_token"][0]
    assert response.status_code == 400 and "set it up" in message


def test_the_token_endpoint_is_unchanged_for_those_who_need_none(city, required):
    assert _token("worker").status_code == 200


def test_verified_pages_cost_one_query_for_the_device(city, required, django_assert_max_num_queries):
    """The login decides whether a code is needed; after the code, each page loads the session's device."""
    device = _enrolled(city.users["worker"])
    client = _login("worker", "field")
    client.post("/field/2fa/", {"code": _code(device)})
    with django_assert_max_num_queries(6):  # session, user, device, posts, grants, the household
        assert client.get(f"/field/patrol/household/{city.households['A1g1'].pk}/").status_code == 200
