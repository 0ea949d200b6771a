"""The installable app: its manifest, its icons and its service worker (scope /field/, never cached,
keeping the app shell for opening without signal)."""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

from field import views


@pytest.mark.django_db
def test_manifest_names_the_app_and_its_scope(client):
    response = client.get("/field/manifest.webmanifest")
    assert response.status_code == 200 and response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "社管通" and manifest["lang"] == "zh-hans"
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/field/", "/field/", "standalone")
    english = json.loads(client.get("/field/manifest.webmanifest", headers={"accept-language": "en"}).content)
    assert english["name"] == "Civic field"
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert sizes == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}


@pytest.mark.parametrize(("path", "size"), [("field/icon-192.png", 192), ("field/icon-512.png", 512),
                                             ("field/icon-maskable-512.png", 512)])
def test_icons_are_square_pngs_of_their_size(path, size):
    with Image.open(finders.find(path)) as icon:
        assert (icon.format, icon.size) == ("PNG", (size, size))


@pytest.mark.django_db
def test_service_worker_is_served_for_the_whole_app_and_never_cached(client):
    response = client.get("/field/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert "no-cache" in response["Cache-Control"] and "max-age=0" in response["Cache-Control"]
    body = response.content.decode()
    assert json.loads(re.search(r"var PAGES = (.*);", body).group(1)) == ["/field/", "/field/report/", "/field/patrol/"]
    assert json.loads(re.search(r"var ASSETS = (.*);", body).group(1)) == [
        "/static/field/field.css", "/static/field/field.js", "/static/field/icon-192.png"]
    assert 'request.method !== "GET"' in body  # a POST is never answered from, or put into, a cache


@pytest.mark.django_db
def test_the_shell_version_follows_the_files_it_keeps(client, monkeypatch):
    def version():
        return re.search(r'var SHELL = "field-shell-(\w+)"', client.get("/field/sw.js").content.decode()).group(1)

    before = version()
    assert version() == before
    monkeypatch.setattr(views, "SHELL_ASSETS", (*views.SHELL_ASSETS[:2], "field/icon-512.png"))
    assert version() != before


@pytest.mark.parametrize(("username", "url"), [("worker", "/field/"), ("worker", "/field/report/"),
                                               ("worker", "/field/patrol/"), (None, "/field/login/")])
def test_pages_link_the_manifest_and_stay_small(client, as_user, username, url):
    html = (as_user(username) if username else client).get(url).content.decode()
    assert '<link rel="manifest" href="/field/manifest.webmanifest">' in html
    assert len(html.encode()) < 30_000


def test_signed_in_pages_register_the_service_worker(as_user):
    html = as_user("worker").get("/field/").content.decode()
    assert 'data-sw="/field/sw.js" data-scope="/field/"' in html
    assert 'src="/static/field/field.js" defer' in html
