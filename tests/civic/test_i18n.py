"""The UI speaks Simplified Chinese by default and English on request."""

from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, pgettext

from grid.models import Level, Role

# The project's catalogue, and an app's own where it has one (makemessages puts an app's strings in
# its own locale/ folder once that exists: new apps keep theirs apart).
CATALOGUES = sorted(
    path for path in Path(settings.BASE_DIR).glob("**/locale/zh_Hans/LC_MESSAGES/django.po")
    if not {".venv", "node_modules"} & set(path.parts)
)


@pytest.mark.parametrize(
    ("language", "grid", "worker"), [("zh-hans", "网格", "网格员"), ("en", "grid", "grid worker")]
)
def test_model_labels_follow_the_active_language(language, grid, worker):
    with translation.override(language):
        assert str(Level.GRID.label) == grid
        assert str(Role.GRID_WORKER.label) == worker


def test_the_project_catalogue_is_found():
    assert Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po" in CATALOGUES


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: str(path.relative_to(settings.BASE_DIR)))
def test_every_string_has_a_current_chinese_translation(path):
    """Complete, none fuzzy (Django ignores fuzzy entries: the UI would fall back to English), and
    the compiled catalogue Django reads says the same as the .po file."""
    catalogue = polib.pofile(str(path))
    live = [entry for entry in catalogue if not entry.obsolete]
    assert live
    assert [entry.msgid for entry in live if entry.fuzzy] == []
    assert [entry.msgid for entry in live if not entry.translated()] == []
    with translation.override("zh-hans"):
        stale = [entry.msgid for entry in live if not entry.msgid_plural and _compiled(entry) != entry.msgstr]
    assert stale == []


def _compiled(entry) -> str:
    return pgettext(entry.msgctxt, entry.msgid) if entry.msgctxt else gettext(entry.msgid)


def test_admin_speaks_chinese_by_default_and_english_on_request(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="pw-boss-12345")
    client.force_login(user)
    assert "网格节点" in client.get("/admin/").content.decode()
    english = client.get("/admin/", headers={"accept-language": "en"}).content.decode()
    assert "Grid nodes" in english
