"""The admin of partners, keys and the request log: a key's text appears once, on the page answering its
creation; keys are revoked, never deleted; the log is read-only. And the Api-Key scheme in the schema."""

import pytest
from django.urls import reverse

from partners.keys import key_hash
from partners.models import ApiKey, ApiRequest, Partner, Webhook
from tests.grid.utils import admin_client
from tests.partners.conftest import key_client


def _url(model: str, view: str, *args) -> str:
    return reverse(f"admin:partners_{model}_{view}", args=args)


def test_creating_a_partner_in_the_admin_gives_it_a_service_user(city):
    client = admin_client(city.users["admin"])
    response = client.post(_url("partner", "add"), {
        "code": "heating", "name": "供热公司", "contact": "", "active": "on",
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Partner.objects.get(code="heating").user.username == "partner-heating"


def test_a_new_key_is_shown_once_and_works(city, partner, categories):
    client = admin_client(city.users["admin"])
    response = client.post(_url("apikey", "add"), {
        "partner": partner.pk, "name": "sync", "scopes": ["cases.read"], "node": city.nodes["A"].pk, "rate": "",
    })
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]  # the admin's never_cache: no copy of the page is kept
    key = ApiKey.objects.get()
    text = response.context["text"]
    assert key.key_hash == key_hash(text) and text in response.content.decode()
    assert key_client(text).get("/api/v1/issues/cases/").status_code == 200
    # Never again: the change page shows the prefix only.
    assert text not in client.get(_url("apikey", "change", key.pk)).content.decode()


def test_the_add_form_shows_service_errors_beside_fields(city, partner):
    client = admin_client(city.users["admin"])
    response = client.post(_url("apikey", "add"), {"partner": partner.pk, "scopes": [],
                                                   "expires_at_0": "2000-01-01", "expires_at_1": "00:00"})
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) >= {"scopes"}
    assert not ApiKey.objects.exists()


def test_keys_are_revoked_from_the_list_and_never_deleted(city, make_key):
    key, text = make_key(["cases.read"])
    client = admin_client(city.users["admin"])
    response = client.post(_url("apikey", "changelist"), {"action": "revoke", "_selected_action": [key.pk]})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key_client(text).get("/api/v1/issues/cases/").status_code == 401
    assert client.post(_url("apikey", "delete", key.pk)).status_code == 403


def test_the_request_log_is_visible_and_read_only(city, make_key):
    _key, text = make_key(["cases.read"])
    key_client(text).get("/api/v1/issues/cases/")
    row = ApiRequest.objects.get()
    client = admin_client(city.users["admin"])
    listing = client.get(_url("apirequest", "changelist"))
    assert listing.status_code == 200 and "/api/v1/issues/cases/" in listing.content.decode()
    assert client.get(_url("apirequest", "add")).status_code == 403
    assert client.post(_url("apirequest", "change", row.pk), {"status": 500}).status_code == 403
    assert client.post(_url("apirequest", "delete", row.pk)).status_code == 403
    row.refresh_from_db()
    assert row.status == 200


@pytest.mark.parametrize("model", ["partner", "apikey", "apirequest"])
def test_staff_without_partner_permissions_see_nothing(city, model):
    assert admin_client(city.users["street"]).get(_url(model, "changelist")).status_code == 403


def test_the_schema_documents_api_key_authentication(db, client):
    schema = client.get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["apiKeyAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    case_list = schema["paths"]["/api/v1/issues/cases/"]["get"]
    assert {"apiKeyAuth": []} in case_list["security"] and {"tokenAuth": []} in case_list["security"]


def test_a_webhook_made_in_the_admin_shows_its_secret_once(city, make_key, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    key, _text = make_key(["cases.read"])
    client = admin_client(city.users["admin"])
    refused = client.post(_url("webhook", "add"), {"key": key.pk, "url": "http://10.1.2.3/hook",
                                                   "events": ["case.created"]})
    assert refused.status_code == 200 and "url" in refused.context["adminform"].form.errors
    response = client.post(_url("webhook", "add"), {"key": key.pk, "url": "http://127.0.0.1:9/hook",
                                                    "events": ["case.created"]})
    assert response.status_code == 200, response.content.decode()[:2000]
    webhook = Webhook.objects.get()
    assert response.context["text"] == webhook.secret and webhook.secret in response.content.decode()
    assert webhook.secret not in client.get(_url("webhook", "change", webhook.pk)).content.decode()
