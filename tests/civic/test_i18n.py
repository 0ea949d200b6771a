"""The UI speaks Simplified Chinese by default and English on request."""

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from grid.models import Level, Role

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.mark.parametrize(
    ("language", "grid", "worker"), [("zh-hans", "网格", "网格员"), ("en", "grid", "grid worker")]
)
def test_model_labels_follow_the_active_language(language, grid, worker):
    with translation.override(language):
        assert str(Level.GRID.label) == grid
        assert str(Role.GRID_WORKER.label) == worker


def test_every_string_has_a_chinese_translation():
    entries, untranslated = 0, []
    msgid = None
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            msgid = line[6:]
        elif line.startswith("msgstr ") and msgid not in (None, '""'):
            entries += 1
            if line == 'msgstr ""':
                untranslated.append(msgid)
    assert entries > 50
    assert untranslated == []


def test_admin_speaks_chinese_by_default_and_english_on_request(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="pw-boss-12345")
    client.force_login(user)
    assert "网格节点" in client.get("/admin/").content.decode()
    english = client.get("/admin/", headers={"accept-language": "en"}).content.decode()
    assert "Grid nodes" in english
