"""The portal shell: home page, language switch, large text."""

import pytest


@pytest.mark.django_db
def test_home_speaks_chinese_by_default_and_english_on_request(client):
    assert "lang=\"zh-hans\"" in client.get("/").content.decode()
    assert "lang=\"en\"" in client.get("/", headers={"accept-language": "en"}).content.decode()


@pytest.mark.django_db
def test_large_text_toggles_with_a_cookie_and_keeps_the_page(client):
    response = client.post("/text-size/", {"next": "/?x=1"})
    assert response.status_code == 302 and response["Location"] == "/?x=1"
    assert 'class="large-text"' in client.get("/").content.decode()
    client.post("/text-size/", {"next": "/"})
    assert 'class="large-text"' not in client.get("/").content.decode()


@pytest.mark.django_db
def test_large_text_never_redirects_off_site(client):
    assert client.post("/text-size/", {"next": "https://evil.example/"})["Location"] == "/"
