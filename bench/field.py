"""Benchmark: the field app (社管通) on a phone, measured in Chromium with Playwright.

    (a) bytes on the wire to open the report screen on a first visit (HTML, CSS, JS, icons, the
        service worker's precache; no photo), against the citizen portal's report page (Leaflet,
        the map) as the naive baseline. Target: under 300 KB.
    (b) seconds from opening the app to a submitted report, without the person's typing: open
        /field/report/, pick a category, the GPS fix, a 12-megapixel camera photo, one line of text,
        submit, until the reference is on screen. Ours downscales the photo on the phone and sends it
        through the offline queue; the baseline is the same screen with JavaScript off, which posts
        the camera's full file. Target: under 2 s (median).

The server is production-shaped and on loopback: DEBUG off, gunicorn, whitenoise's compressed
static files, a throwaway SQLite database with the demo city (or DATABASE_URL if set), eager tasks.

Usage: .venv/bin/python bench/field.py [--runs 10]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import serve, stop  # noqa: E402
from bench.timing import verdict  # noqa: E402

PYTHON = sys.executable
CHROMIUM = os.environ.get("CIVIC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
PHONE = {"width": 360, "height": 780}
DEMO_PASSWORD = "civic-demo"
KB = 1024
TRANSFER_LIMIT = 300 * KB
SUBMIT_LIMIT_S = 2.0


#
# The server
#


def server_env(workdir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        DEBUG="0", SECRET_KEY="bench-only-" + os.urandom(24).hex(), SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0", MEDIA_ROOT=str(workdir / "media"),
        STATIC_ROOT=str(workdir / "static"), DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    env.pop("REDIS_URL", None)  # notices are delivered eagerly: no broker is measured here
    return env


def prepare(env: dict) -> None:
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo"], ["collectstatic", "--noinput", "-v0"]):
        done = subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"manage.py {' '.join(command)} failed:\n{done.stderr}")


#
# Measurements
#


def camera_photo(path: Path) -> int:
    """A 12-megapixel JPEG of a phone camera's size (a few MB): a scene's gradients plus sensor noise."""
    size = (4000, 3000)
    scene = Image.merge("RGB", [Image.linear_gradient("L").rotate(angle).resize(size) for angle in (0, 90, 45)])
    noise = Image.effect_noise(size, 24).convert("RGB")
    Image.blend(scene, noise, 0.25).save(path, "JPEG", quality=90)
    return path.stat().st_size


class Traffic:
    """Bytes a phone pulled over the network, per URL (headers and bodies, as encoded on the wire),
    its service worker's fetches included."""

    def __init__(self, context):
        self.rows: list[tuple[str, int, bool]] = []  # url, bytes, fetched by the service worker
        context.on("requestfinished", self._finished)

    def _finished(self, request) -> None:
        sizes = request.sizes()
        size = sizes["responseHeadersSize"] + max(sizes["responseBodySize"], 0)
        self.rows.append((request.url, size, request.service_worker is not None))

    @property
    def total(self) -> int:
        return sum(size for _url, size, _sw in self.rows)

    @property
    def page_only(self) -> int:
        return sum(size for _url, size, by_worker in self.rows if not by_worker)


SETTLE_JS = """async () => {
  const registration = await navigator.serviceWorker.getRegistration();
  if (!registration) { return "no service worker"; }
  const timeout = new Promise(resolve => setTimeout(() => resolve("service worker not ready in 10 s"), 10000));
  return Promise.race([navigator.serviceWorker.ready.then(() => "service worker ready"), timeout]);
}"""


def _settle(page) -> str:
    """Wait until a service worker the page registers has installed its precache, so its fetches count."""
    page.wait_for_load_state("networkidle")
    return page.evaluate(SETTLE_JS)


def phone_context(browser, url: str, **options):
    """A fresh phone (no cache, no service worker yet) at 360 px; a step that hangs fails in 20 s."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN", base_url=url,
                                  **options)
    context.set_default_timeout(20_000)
    return context


def first_visit_bytes(browser, url: str, storage: dict, path: str) -> Traffic:
    context = phone_context(browser, url, storage_state=storage)
    traffic = Traffic(context)
    page = context.new_page()
    page.goto(path)
    _settle(page)
    context.close()
    return traffic


def log_in(browser, url: str, username: str, login_path: str) -> dict:
    context = phone_context(browser, url)
    page = context.new_page()
    page.goto(login_path)
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    if "/login/" in page.url:
        sys.exit(f"could not log in as {username} at {login_path}")
    storage = context.storage_state()
    context.close()
    return storage


class Reporter:
    """One phone: a logged-in context at the worker's position, the report screen driven as a person
    would, minus the typing (the text is filled in at once)."""

    def __init__(self, browser, url: str, storage: dict, position: tuple[float, float], *, javascript: bool):
        self.context = phone_context(
            browser, url, storage_state=storage, java_script_enabled=javascript, permissions=["geolocation"],
            geolocation={"latitude": position[0], "longitude": position[1], "accuracy": 10},
        )
        self.javascript = javascript
        self.uploaded: list[int] = []

    def report(self, photo: Path, category: str, grid: str) -> float:
        page = self.context.new_page()
        page.on("requestfinished", self._count_upload)
        started = time.perf_counter()
        page.goto("/field/report/")
        if self.javascript:
            page.wait_for_selector("#fix.ok")
        else:  # without JavaScript there is no GPS: the grid and the address instead
            page.select_option("#id_grid", grid)
            page.fill("#id_address", "星火巷 12 号门口")
        page.select_option("#id_category", category)
        page.set_input_files("#id_photos", str(photo))
        if self.javascript:
            page.wait_for_selector("#id_photos ~ .thumbs img")  # downscaled on the phone
        page.fill("#id_description", "路灯不亮")
        page.locator("#report-form button[type=submit]").click()
        if self.javascript:
            page.wait_for_function(
                "() => /XC-\\d{4}-\\d{6}/.test(document.getElementById('status').textContent)")
        else:
            page.wait_for_url("**/field/cases/*/**")
        elapsed = time.perf_counter() - started
        page.close()
        return elapsed

    def _count_upload(self, request) -> None:
        if request.method == "POST":
            self.uploaded.append(int(request.all_headers().get("content-length", 0)))

    def close(self) -> None:
        self.context.close()


def _demo_facts(env: dict) -> dict:
    """The worker's grid centre, a category and the grid's id, read from the database the server uses."""
    script = (
        "import django, json; django.setup()\n"
        "from grid.models import Post\n"
        "from issues.selectors import category_list\n"
        "grid = Post.objects.get(user__username='worker').node\n"
        "print(json.dumps({'lat': float(grid.centroid_lat), 'lon': float(grid.centroid_lon), 'grid': grid.pk,\n"
        "                  'category': category_list().first().pk}))\n"
    )
    out = subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[max(0, int(round(0.9 * len(ordered))) - 1)]
    return f"median {statistics.median(ordered):.2f} s, p90 {p90:.2f} s, max {ordered[-1]:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"bench/field.py needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = server_env(workdir)
        print(f"Preparing a demo database ({env['DATABASE_URL'].split('://')[0]}) and static files ...")
        prepare(env)
        facts = _demo_facts(env)
        photo = workdir / "IMG_0001.jpg"
        photo_bytes = camera_photo(photo)
        server, url = serve(env, workdir / "server.log", threads=4)
        checks = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                worker = log_in(browser, url, "worker", "/field/login/")
                citizen = log_in(browser, url, "citizen", "/accounts/login/")

                ours = first_visit_bytes(browser, url, worker, "/field/report/")
                naive = first_visit_bytes(browser, url, citizen, "/cases/report/")
                print(f"\n(a) First visit to the report screen, bytes on the wire (headers + bodies), {url}:")
                for label, traffic in (("field /field/report/", ours), ("portal /cases/report/", naive)):
                    print(f"    {label:<24}{traffic.total / KB:>8.1f} KB in {len(traffic.rows)} responses, "
                          f"{traffic.page_only / KB:.1f} KB of them for the page itself")
                for row_url, size, by_worker in sorted(ours.rows, key=lambda row: -row[1]):
                    print(f"        {size / KB:>7.1f} KB  {row_url.removeprefix(url)}"
                          f"{'  (the service worker)' if by_worker else ''}")
                print(f"    the portal's report page (with the map) pulls {naive.page_only / ours.page_only:.1f}x the "
                      "bytes of the field app's; the field total also installs the app for offline use")
                checks.append((f"report screen under {TRANSFER_LIMIT // KB} KB", ours.total < TRANSFER_LIMIT))

                position = (facts["lat"], facts["lon"])
                category, grid = str(facts["category"]), str(facts["grid"])
                timings = {}
                uploads = {}
                for label, javascript in (("field app", True), ("no JavaScript", False)):
                    phone = Reporter(browser, url, worker, position, javascript=javascript)
                    runs = [phone.report(photo, category, grid) for _ in range(args.runs + 1)]
                    timings[label] = (runs[0], runs[1:])  # the first run also installs the app
                    uploads[label] = statistics.median(phone.uploaded)
                    phone.close()
                browser.close()
        finally:
            stop(server)

    print(f"\n(b) Open the app → submitted report, a {photo_bytes / KB / KB:.1f} MB 12-megapixel photo, "
          f"{args.runs} runs after a first one:")
    for label, (first, runs) in timings.items():
        print(f"    {label:<14} first {first:.2f} s; then {_summary(runs)}; "
              f"uploaded {uploads[label] / KB:,.0f} KB per report")
    ours_median = statistics.median(timings["field app"][1])
    naive_median = statistics.median(timings["no JavaScript"][1])
    print(f"    the naive form post takes {naive_median / ours_median:.1f}x as long and sends "
          f"{uploads['no JavaScript'] / uploads['field app']:.1f}x the bytes")
    checks.append((f"open to submitted under {SUBMIT_LIMIT_S:.0f} s (median)", ours_median < SUBMIT_LIMIT_S))

    print()
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
