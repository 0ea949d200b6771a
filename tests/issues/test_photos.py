"""Case photos leave the server only through /api/v1/issues/photos/<id>/<variant>/, which applies the
case's own rules (issues.selectors.CaseView): the reporter and staff whose grants cover the case open
both copies; anyone opens the display copy of a public case outside the sensitive categories; every
other request is a 404 in the API's error shape. Stored names are random, /media/ serves nothing, and
behind nginx or Apache the view hands the sending over (X-Accel-Redirect, X-Sendfile)."""

import importlib
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import clear_url_caches, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from issues.models import CasePhoto, Status
from tests.factories import CityBuilder
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import drive, jpeg_upload, png_upload, report
from tests.support.city import built_once, restore

VARIANTS = ("display", "original")


@pytest.fixture(scope="module")
def _city(django_db_setup, django_db_blocker):
    with built_once(django_db_blocker, CityBuilder().build) as snapshot:
        yield snapshot


@pytest.fixture
def city(db, _city):
    return restore(_city)


@pytest.fixture
def photos(city, categories):  # noqa: F811
    """One photo of each kind of case, all in grid A1g1 (community A1, street A), reported by the citizen."""
    citizen = city.users["citizen"]

    def photo_of(category, **kwargs):
        case = report(city, categories[category], actor=citizen, photos=[jpeg_upload()], **kwargs)
        return case.photos.get()

    rejected = photo_of("city-management")
    drive(rejected.case, city.users["director"], ("reject", {"comment": "不属实"}))
    return {
        "public": photo_of("city-management"),
        "hidden": photo_of("city-management", reporter_public=False),
        "sensitive": photo_of("dispute"),
        "rejected": rejected,
    }


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def opens(client, photo: CasePhoto, variant: str) -> bool:
    response = client.get(photo.url(variant))
    if response.status_code == 404:
        assert response.json()["error"]["status"] == 404  # the API's error shape, whatever was asked
        return False
    assert response.status_code == 200, response.content
    assert b"".join(response.streaming_content) == photo.file(variant).open("rb").read()
    return True


def openable(client, photos) -> set[str]:
    return {f"{kind}/{variant}" for kind, photo in photos.items() for variant in VARIANTS
            if opens(client, photo, variant)}


PUBLIC_DISPLAY = {"public/display"}
EVERYTHING = {f"{kind}/{variant}" for kind in ("public", "hidden", "sensitive", "rejected") for variant in VARIANTS}


#
# Who opens what
#


@pytest.mark.parametrize(("who", "expected"), [
    (None, PUBLIC_DISPLAY),  # anonymous: a public case's display copy, nothing else
    ("worker2", PUBLIC_DISPLAY),  # staff whose grants do not cover the cases: as the public
    ("street2", PUBLIC_DISPLAY),
    ("citizen", EVERYTHING),  # the reporter: everything of their own cases
    ("worker", EVERYTHING),  # staff whose grants cover grid A1g1
    ("director", EVERYTHING),
    ("street", EVERYTHING),
    ("district", EVERYTHING),
    ("admin", EVERYTHING),
])
def test_who_opens_which_copy(city, photos, who, expected):
    assert openable(client_for(city.users[who] if who else None), photos) == expected


def test_another_citizen_opens_only_public_display_copies(city, photos):
    neighbour = type(city.users["citizen"]).objects.create_user("neighbour", password="x")
    assert openable(client_for(neighbour), photos) == PUBLIC_DISPLAY


def test_an_after_photo_follows_the_same_rules(city, photos):
    case = photos["public"].case
    director = city.users["director"]
    drive(case, director, "accept", ("dispatch", {"level": 4}), "start",
          ("resolve", {"comment": "已清理", "photos": [png_upload()]}))
    after = case.photos.get(kind=CasePhoto.KIND_AFTER)
    assert opens(client_for(), after, "display") and not opens(client_for(), after, "original")
    assert opens(client_for(director), after, "original")
    case.refresh_from_db()
    assert case.status == Status.RESOLVED


def test_token_authentication_on_the_api_url(city, photos):
    photo = photos["hidden"]
    token = Token.objects.create(user=city.users["director"])
    phone = APIClient()
    assert phone.get(photo.original_url).status_code == 404  # anonymous: not found
    phone.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = phone.get(photo.original_url, HTTP_ACCEPT="image/*")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    phone.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert phone.get(photo.original_url).status_code == 401


def test_unknown_photos_and_copies_are_not_found(city, photos):
    client = client_for(city.admin)
    photo = photos["public"]
    missing = CasePhoto.objects.order_by("-pk").first().pk + 1
    for url in (f"/api/v1/issues/photos/{missing}/display/", f"/api/v1/issues/photos/{photo.pk}/thumbnail/"):
        response = client.get(url, HTTP_ACCEPT="image/png")
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    Path(photo.image.path).unlink()  # a file gone from the disk (e.g. removed by hand)
    assert client.get(photo.original_url).status_code == 404


def test_the_photo_costs_a_fixed_number_of_queries(city, photos, django_assert_max_num_queries, query_budget):
    photo = photos["hidden"]
    with django_assert_max_num_queries(1):  # anonymous: the photo with its case, category and grid
        assert client_for().get(photo.display_url).status_code == 404
    client = client_for(city.users["director"])
    with query_budget("issues.photos.file"):  # the session, its user, the photo, the user's grants
        assert client.get(photo.original_url).status_code == 200


def test_answers_may_be_kept_by_the_browser_only(city, photos):
    response = client_for().get(photos["public"].display_url)
    assert "private" in response["Cache-Control"] and "public" not in response["Cache-Control"]
    assert {"Cookie", "Authorization"} <= {v.strip() for v in response["Vary"].split(",")}
    assert response["X-Content-Type-Options"] == "nosniff"


#
# Names and serving
#


def test_stored_names_are_random(city, photos, settings):
    names = [name for photo in photos.values() for name in (photo.image.name, photo.display.name)]
    assert len(set(names)) == len(names)
    for photo in photos.values():
        assert re.fullmatch(r"cases/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", photo.image.name)
        assert re.fullmatch(r"cases/\d{4}/\d{2}/display/[0-9a-f]{32}\.jpg", photo.display.name)
        assert "original" not in photo.image.name


@pytest.fixture
def urls_as_make_run(settings):
    """The URLs as `make run` loads them, with DEBUG on (Django's static() serves files only then)."""
    import config.urls

    settings.DEBUG = True
    importlib.reload(config.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def test_nothing_under_media_is_served_even_with_debug_on(city, photos, urls_as_make_run):
    photo = photos["public"]
    for client in (client_for(), client_for(city.admin)):
        for name in (photo.image.name, photo.display.name):
            assert client.get(f"/media/{name}").status_code == 404
        assert client.get(photo.display_url).status_code == 200


def test_behind_nginx_the_view_answers_with_x_accel_redirect(city, photos, settings):
    settings.PROTECTED_MEDIA_SERVER = "nginx"
    settings.PROTECTED_MEDIA_PREFIX = "/protected-media/"
    photo = photos["public"]
    response = client_for().get(photo.display_url)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{photo.display.name}"
    assert response["Content-Type"] == "image/jpeg" and "private" in response["Cache-Control"]
    # The rules are Django's: nginx is told to send nothing else.
    refused = client_for().get(photo.original_url)
    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused


def test_behind_apache_the_view_answers_with_x_sendfile(city, photos, settings):
    settings.PROTECTED_MEDIA_SERVER = "apache"
    photo = photos["hidden"]
    response = client_for(city.users["citizen"]).get(photo.original_url)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Sendfile"] == str(Path(settings.MEDIA_ROOT) / photo.image.name)


def test_the_compose_stack_sends_photos_through_an_internal_nginx_location():
    """No Docker engine here: check that docker-compose.yml and deploy/nginx.conf agree with each other."""
    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    services = compose["services"]
    env = services["web"]["environment"]
    assert env["PROTECTED_MEDIA_SERVER"] == "nginx"
    conf = (root / "deploy" / "nginx.conf").read_text()
    location = re.search(rf"location {re.escape(env['PROTECTED_MEDIA_PREFIX'])} \{{([^}}]*)\}}", conf)
    assert location and re.search(r"^\s*internal;", location[1], re.M)
    assert re.search(rf"alias {re.escape(env['MEDIA_ROOT'])}/;", location[1])
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    assert f"media:{env['MEDIA_ROOT']}:ro" in services["nginx"]["volumes"]
    assert f"media:{env['MEDIA_ROOT']}" in services["web"]["volumes"]
    assert "ports" not in services["web"] and services["nginx"]["ports"] == ["8000:80"]
    assert "server web:8000;" in conf


#
# The pages show photos through the view
#


def _photo_links(html: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="(/api/v1/issues/photos/\d+/(?:display|original)/)"', html))


def test_the_portal_pages_show_photos_through_the_view(city, photos):
    citizen = client_for(city.users["citizen"])
    own = citizen.get(reverse("portal:cases:detail", args=[photos["hidden"].case.reference])).content.decode()
    assert _photo_links(own) == {photos["hidden"].display_url}
    assert "/media/" not in own
    for photo in photos.values():
        assert opens(citizen, photo, "display")
    # A public case's page shows its display copy to anyone; a sensitive one's page shows none.
    public = client_for().get(reverse("portal:cases:detail", args=[photos["public"].case.reference]))
    assert _photo_links(public.content.decode()) == {photos["public"].display_url}
    sensitive = client_for().get(reverse("portal:cases:detail", args=[photos["sensitive"].case.reference]))
    assert sensitive.status_code == 200 and _photo_links(sensitive.content.decode()) == set()


def test_the_field_app_shows_photos_through_the_view(city, photos):
    worker = client_for(city.users["worker"])
    html = worker.get(reverse("field:case", args=[photos["hidden"].case.pk])).content.decode()
    assert _photo_links(html) == {photos["hidden"].display_url} and "/media/" not in html
    assert opens(worker, photos["hidden"], "display")


def test_the_admin_shows_photos_through_the_view(city, photos):
    director = client_for(city.users["director"])
    html = director.get(reverse("admin:issues_case_change", args=[photos["hidden"].case.pk])).content.decode()
    assert _photo_links(html) == {photos["hidden"].display_url, photos["hidden"].original_url}
    assert "/media/" not in html


def test_the_api_links_answer_to_the_api_authentication(city, photos):
    token = Token.objects.create(user=city.users["street"])
    phone = APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = phone.get(f"/api/v1/issues/cases/{photos['hidden'].case.pk}/").json()
    (photo,) = body["photos"]
    assert photo["url"] == f"http://testserver{photos['hidden'].display_url}"
    for url in (photo["url"], photo["original_url"]):
        assert phone.get(url).status_code == 200
        assert APIClient().get(url).status_code == 404
