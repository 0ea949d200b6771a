"""Production collects static files into whitenoise's compressed manifest storage (the Docker web
service runs collectstatic on start): every file a vendored asset refers to must be there."""

from django.core.management import call_command


def test_collectstatic_succeeds_with_the_production_storage(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    call_command("collectstatic", "--noinput", verbosity=0)
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert "portal/vendor/leaflet/leaflet.js" in manifest and "field/field.js" in manifest
    assert list((tmp_path / "static" / "portal" / "vendor" / "leaflet").glob("leaflet.*.js.gz"))
