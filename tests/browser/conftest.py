"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live server.

Every page opens at phone width (360 px) in the language the test asks for. `check_accessibility`
runs axe-core (vendored from npm) in the page for WCAG 2.1 A and AA. A failing test leaves a
screenshot of each open page under test-artifacts/browser/.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import require_service

CHROMIUM = Path(os.environ.get("CIVIC_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
PHONE = {"width": 360, "height": 780}
LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}
# Without these, Chromium keeps calling Google's services, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module, closed with it.

    Playwright's sync API keeps an asyncio loop marked as running on this thread while it is alive,
    which trips Django's async-safety check on every ORM call the test makes; the check is lifted
    only while the browser lives, and the loop is torn down before the next module runs.
    """
    if not CHROMIUM.exists():
        require_service(False, f"Chromium ({CHROMIUM}; apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server, request):
    """Open a phone-sized page in a fresh context (own cookies): ``new_page(language="en")``."""
    contexts = []

    def open_page(language: str = "zh-hans", **options):
        context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
            locale=LOCALES[language], timezone_id=settings.TIME_ZONE, base_url=live_server.url, **options,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    for number, context in enumerate(contexts):
        if failed:
            _screenshots(context, request.node.nodeid, number)
        context.close()


def _screenshots(context, nodeid: str, number: int) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", nodeid)
    for index, page in enumerate(context.pages):
        path = ARTIFACTS / f"{stem}-{number}-{index}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of {page.url}: {path}")


@pytest.fixture
def page(new_page):
    return new_page()


def check_accessibility(page, *, context: str = "") -> None:
    """Fail with a readable list when axe-core finds any WCAG 2.1 A/AA violation on the page."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    # resultTypes: only violations are collected node by node; passes cost time and are not read.
    options = {"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    result = page.evaluate("options => axe.run(document, options)", options)
    problems = [
        f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
        + "\n".join(f"    {' '.join(node['target'])}: {node['failureSummary']}" for node in violation["nodes"])
        for violation in result["violations"]
    ]
    assert not problems, f"axe-core on {context or page.url}:\n" + "\n".join(problems)


