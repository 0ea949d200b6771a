"""What the portal's browser tests share: the page's words in its language, logging in, photos,
and the codes the portal sends."""

from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext

from civic.models import Notice
from tests.issues.helpers import jpeg_upload

LANGUAGES = ["zh-hans", "en"]
# A password Django's validators accept (the city's users have factories.PASSWORD).
NEW_PASSWORD = "Hohhot-grid-2026!"


class Words:
    """The catalogue's translation of a message in one language, so locators read what users read:
    ``words("Log in")``; ``words.cap("resolve")`` for labels the admin capitalises."""

    def __init__(self, language: str):
        self.language = language

    def __call__(self, message: str) -> str:
        with translation.override(self.language):
            return gettext(message)

    def cap(self, message: str) -> str:
        return capfirst(self(message))


def photo(name: str = "pothole.jpg") -> dict:
    """A real JPEG for set_input_files."""
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg_upload(name).read()}


def log_in(page, words: Words, identifier: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label(words("Phone number or e-mail")).fill(identifier)
    page.get_by_label(words("Password"), exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name=words("Log in"), exact=True).click()


def sent_code(**recipient) -> str:
    """The newest verification code sent to the user matching ``recipient`` (e.g. phone=...)."""
    filters = {f"recipient__{field}": value for field, value in recipient.items()}
    notice = Notice.objects.filter(template="portal/verification_code", **filters).latest("created_at", "id")
    return notice.context["code"]
