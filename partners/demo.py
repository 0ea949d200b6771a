"""Demo data: the city's 12345 citizens' hotline as a partner, with a fixed key to try the API with.

`seed_demo` runs `seed` (registered in PartnersConfig.ready()); a second run creates nothing. The key
text is public (README): demo data only.
"""

from partners.keys import key_hash
from partners.models import ApiKey, Scope
from partners.services import api_key_create, partner_ensure

__all__ = ["HOTLINE_CODE", "HOTLINE_KEY", "seed"]

HOTLINE_CODE = "12345"
HOTLINE_NAME = "12345 市民热线"
HOTLINE_KEY = "civic-demo-hotline"
HOTLINE_SCOPES = (Scope.CASES_READ, Scope.CASES_WRITE, Scope.OPEN311)


def seed(*, actor) -> str:
    # As the system (actor None): the audit log then names no account, which a rebuilt demo may drop.
    partner = partner_ensure(actor=None, code=HOTLINE_CODE, name=HOTLINE_NAME,
                             contact="呼和浩特市 12345 政务服务便民热线")
    if not ApiKey.objects.filter(key_hash=key_hash(HOTLINE_KEY)).exists():
        api_key_create(actor=None, partner=partner, scopes=[str(s) for s in HOTLINE_SCOPES], name="demo",
                       key=HOTLINE_KEY)
    return f"Partner {HOTLINE_NAME} ready, API key {HOTLINE_KEY!r} ({', '.join(HOTLINE_SCOPES)})."
