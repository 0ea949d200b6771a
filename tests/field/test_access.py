"""Who may use the field app: signed-in staff holding a post in the grid tree. Everyone else gets
the field login page, or a 403 page saying why."""

import pytest

from tests.factories import PASSWORD

PAGES = ["/field/", "/field/report/", "/field/cases/1/", "/field/patrol/", "/field/patrol/household/1/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_is_sent_to_the_field_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/field/login/?next={url}"


@pytest.mark.parametrize("username", ["citizen", "dept", "admin"])
def test_accounts_without_a_grid_post_get_a_clear_403(as_user, username):
    client = as_user(username)
    for url in PAGES:
        response = client.get(url, headers={"accept-language": "en"})
        assert response.status_code == 403
        assert "holds no such post" in response.content.decode()
    assert client.post("/field/report/", {"description": "x"}).status_code == 403


@pytest.mark.parametrize("username", ["worker", "director", "street", "district"])
def test_staff_posted_in_the_grid_tree_get_in(as_user, username):
    assert as_user(username).get("/field/").status_code == 200


def test_login_by_username_lands_on_my_cases(client, city):
    page = client.get("/field/login/")
    assert page.status_code == 200 and 'lang="zh-hans"' in page.content.decode()
    response = client.post("/field/login/", {"username": "worker", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/field/"


def test_login_by_phone_number_and_next(client, city):
    worker = city.users["worker"]
    worker.phone = "13800000001"
    worker.save()
    response = client.post("/field/login/", {"username": "13800000001", "password": PASSWORD,
                                             "next": "/field/report/"})
    assert response.status_code == 302 and response["Location"] == "/field/report/"


def test_wrong_password_says_so_next_to_the_form(client, city):
    response = client.post("/field/login/", {"username": "worker", "password": "wrong"},
                           headers={"accept-language": "en"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_returns_to_the_field_login(as_user):
    client = as_user("worker")
    response = client.post("/field/logout/")
    assert response.status_code == 302 and response["Location"] == "/field/login/"
    assert client.get("/field/").status_code == 302


def test_english_on_request_with_the_language_switch(as_user):
    client = as_user("worker")
    html = client.get("/field/").content.decode()
    assert "我的案件" in html and 'action="/i18n/setlang/"' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/field/"})
    html = client.get("/field/").content.decode()
    assert 'lang="en"' in html and "My cases" in html
