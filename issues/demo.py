"""Demo data for cases: the category tree, and one morning of reports in Xinghuo Lane community.

``manage.py seed_demo`` runs ``seed`` after building the demo city (issues registers it with
grid.demo.register_seeder from IssuesConfig.ready()). Both parts are idempotent: categories are
updated in place by code, and the demo cases are created once.

The morning follows the 2015 report: seventeen reports in Xinghuo Lane (星火巷社区) between 08:00
and 10:30 of one working day, mostly street cleanliness (市容环卫维护), most of them handled on the
spot by the grid worker who found them, the rest accepted by the community and dispatched to the
functional departments. Each step goes through issues.services at the moment it happened in the
story (the clock is set back to it), so timestamps, deadlines, the timeline and the notices are
exactly what the workflow would have written that day. The morning is the last working day before
today: the open cases are on time, except one report nobody accepted, which is overdue and which
the overdue sweep escalates to the street office the first time it runs.
"""

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import BytesIO, StringIO
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from civic.workcal import is_workday, working_day_length
from grid.demo import XINGHUO_CODE, XINGHUO_ESTATES
from grid.models import Department, GridNode, Level
from grid.permissions import subtree_q
from issues.models import Case, Category, CategoryAttribute, Priority
from issues.services import case_report, case_transition

__all__ = ["CATEGORIES", "DEMO_CASES", "morning_of", "seed", "seed_cases", "seed_categories"]


#
# Categories
#


@dataclass(frozen=True)
class _Category:
    code: str
    parent: str | None
    name: str
    name_en: str
    department: str | None  # a department code of grid.demo.DEPARTMENTS
    accept_hours: int  # working hours to accept
    resolve_days: int  # working days to resolve, per level
    first_level: int = Level.COMMUNITY
    priority: int = Priority.NORMAL
    sensitive: bool = False


CATEGORIES = (
    _Category("city-management", None, "城市管理", "City management", "city-management", 2, 2),
    # The report's most common kind of case.
    _Category("street-sanitation", "city-management", "市容环卫维护", "Street cleanliness and sanitation",
              "sanitation", 2, 1),
    _Category("street-vending", "city-management", "占道经营", "Street vending / occupying the road",
              "city-management", 2, 1),
    _Category("illegal-construction", "city-management", "违章搭建", "Illegal construction", "city-management", 4, 3),
    _Category("illegal-posters", "city-management", "乱贴乱画", "Illegal posters and graffiti", "sanitation", 2, 1),
    _Category("public-facilities", None, "公共设施", "Public facilities", "housing", 2, 3),
    _Category("damaged-road", "public-facilities", "道路破损", "Damaged road", "housing", 2, 3),
    _Category("broken-street-light", "public-facilities", "路灯损坏", "Broken street light", "city-management", 2, 2),
    _Category("missing-manhole-cover", "public-facilities", "井盖缺失", "Missing manhole cover", "housing", 2, 1,
              priority=Priority.URGENT),
    _Category("water-heating", None, "供水供暖", "Water and heating", None, 2, 2),
    _Category("water-outage", "water-heating", "停水", "Water outage", "water-supply", 2, 1, priority=Priority.HIGH),
    _Category("heating-too-cold", "water-heating", "供暖不热", "Heating too cold", "heating", 4, 2),
    _Category("safety-hazards", None, "安全隐患", "Safety hazards", None, 2, 1, first_level=Level.STREET_OFFICE,
              priority=Priority.HIGH),
    _Category("dangerous-building", "safety-hazards", "危墙危房", "Dangerous wall or building", "housing", 2, 1,
              first_level=Level.STREET_OFFICE, priority=Priority.URGENT),
    # The fire brigade is not one of the demo's departments: the street office routes these by hand.
    _Category("fire-hazard", "safety-hazards", "消防隐患", "Fire hazard", None, 2, 1, priority=Priority.HIGH),
    _Category("neighbour-dispute", None, "邻里纠纷", "Neighbour disputes", None, 4, 3, sensitive=True),
)


@transaction.atomic
def seed_categories() -> dict[str, Category]:
    """Create or update the demo categories by code; returns them by code.

    A department missing from the database (a city seeded without it) leaves the category's
    department empty: such cases are dispatched by hand.
    """
    departments = Department.objects.in_bulk([c.department for c in CATEGORIES if c.department], field_name="code")
    day = working_day_length()
    categories: dict[str, Category] = {}
    for spec in CATEGORIES:  # parents come before their children
        categories[spec.code], _created = Category.objects.update_or_create(
            code=spec.code,
            defaults={
                "parent": categories[spec.parent] if spec.parent else None,
                "name": spec.name, "name_en": spec.name_en, "first_level": spec.first_level,
                "department": departments.get(spec.department),
                "accept_within": timedelta(hours=spec.accept_hours), "resolve_within": spec.resolve_days * day,
                "default_priority": spec.priority, "sensitive": spec.sensitive, "is_active": True,
            },
        )
    _seed_attributes(categories)
    return categories


# The extra answers a machine's report carries in some categories (Open311's service definitions).
_EXTENT = [{"key": "household", "name": "单户", "name_en": "one household"},
           {"key": "building", "name": "整栋楼", "name_en": "the whole building"},
           {"key": "estate", "name": "整个小区", "name_en": "the whole estate"}]
ATTRIBUTES = {
    "water-outage": [
        dict(code="extent", datatype="singlevaluelist", required=True, order=1, values=_EXTENT,
             description="停水范围", description_en="How far does the outage reach?"),
        dict(code="since", datatype="datetime", required=False, order=2,
             description="停水开始时间", description_en="Since when?"),
    ],
    "heating-too-cold": [
        dict(code="indoor_temperature", datatype="number", required=True, order=1,
             description="室内温度（℃）", description_en="Indoor temperature (°C)"),
        dict(code="extent", datatype="singlevaluelist", required=False, order=2, values=_EXTENT,
             description="影响范围", description_en="How far does it reach?"),
    ],
}


def _seed_attributes(categories: dict[str, Category]) -> None:
    for code, attributes in ATTRIBUTES.items():
        for spec in attributes:
            CategoryAttribute.objects.update_or_create(
                category=categories[code], code=spec["code"],
                defaults={key: value for key, value in spec.items() if key != "code"},
            )


#
# One morning in Xinghuo Lane
#


@dataclass(frozen=True)
class _Step:
    at: str  # "HH:MM" on the morning's day
    actor: str  # a username, or "reporter"
    action: str  # a transition of issues.workflow
    comment: str = ""
    department: str | None = None  # dispatch to this department (code)
    photo: bool = False  # an "after" photo (resolutions)


@dataclass(frozen=True)
class _DemoCase:
    at: str  # "HH:MM" reported
    grid: int  # Xinghuo grid 1..8
    worker: int  # the grid's worker 1..3
    category: str
    description: str
    where: str  # appended to the grid's estate name
    on_spot: str = ""  # the resolution, when the worker handled it on the spot
    steps: tuple[_Step, ...] = field(default_factory=tuple)


def _dispatched(accept_at: str, dispatch_at: str, department: str) -> tuple[_Step, ...]:
    return (_Step(accept_at, "director", "accept"), _Step(dispatch_at, "director", "dispatch", department=department))


def _closed(resolve_at: str, resolution: str, verify_at: str, close_at: str) -> tuple[_Step, ...]:
    return (
        _Step(resolve_at, "dept", "resolve", comment=resolution, photo=True),
        _Step(verify_at, "reporter", "verify"),
        _Step(close_at, "dept", "close"),
    )


DEMO_CASES = (
    _DemoCase("08:02", 1, 1, "street-sanitation", "3号楼东侧垃圾桶满溢，周边散落生活垃圾。", "3号楼东侧",
              on_spot="已联系小区保洁员清运，现场清理干净。"),
    _DemoCase("08:09", 2, 1, "street-sanitation", "大院门口绿化带内白色垃圾较多。", "门口绿化带",
              on_spot="已组织楼长捡拾清理。"),
    _DemoCase("08:15", 3, 2, "street-vending", "南门早点摊占用人行道经营，行人需绕行。", "南门人行道",
              on_spot="已劝导摊主退回店内经营，人行道恢复通行。"),
    _DemoCase("08:21", 4, 1, "street-sanitation", "2号楼前堆放装修建筑垃圾约2立方米。", "2号楼前",
              steps=_dispatched("09:05", "09:10", "sanitation")
              + _closed("11:30", "已安排清运车辆清运完毕。", "14:00", "14:20")),
    _DemoCase("08:28", 5, 3, "illegal-posters", "楼道内张贴大量开锁、通下水道小广告。", "1号楼楼道",
              on_spot="已清除小广告，并提醒物业加强巡查。"),
    _DemoCase("08:34", 1, 2, "street-sanitation", "西门路面有大片油污，雨天易滑倒。", "西门",
              steps=_dispatched("09:12", "09:15", "sanitation")
              + (_Step("15:40", "dept", "resolve", comment="已用高压水枪冲洗路面油污。", photo=True),)),
    _DemoCase("08:41", 6, 1, "broken-street-light", "北侧道路三盏路灯不亮，夜间通行不便。", "北侧道路",
              steps=_dispatched("09:20", "09:25", "city-management")),
    _DemoCase("08:47", 7, 2, "street-sanitation", "小区门口垃圾清运不及时，有异味。", "东门",
              on_spot="已联系环卫所加派车辆清运。"),
    _DemoCase("08:53", 8, 1, "street-sanitation", "院内枯枝落叶堆积，影响环境。", "中心花园",
              on_spot="已与物业一起清扫完毕。"),
    _DemoCase("09:02", 2, 3, "illegal-construction", "5号楼一层住户私自扩建阳台，占用公共绿地。", "5号楼一层",
              steps=(_Step("09:40", "director", "accept"),)),
    _DemoCase("09:10", 3, 1, "street-sanitation", "垃圾站周边污水外溢，气味较大。", "垃圾站",
              steps=_dispatched("09:45", "09:50", "sanitation")
              + _closed("13:45", "已清掏垃圾站并冲洗地面。", "16:00", "16:10")),
    _DemoCase("09:18", 4, 2, "missing-manhole-cover", "东侧人行道井盖缺失，存在安全隐患。", "东侧人行道",
              steps=(_Step("09:25", "director", "accept"),
                     _Step("10:40", "director", "resolve", comment="已设置围挡和警示标志，并补装井盖。", photo=True))),
    _DemoCase("09:26", 5, 1, "street-sanitation", "楼后绿地内堆放废弃家具。", "楼后绿地",
              on_spot="已联系物业将废弃家具清运。"),
    _DemoCase("09:35", 6, 3, "neighbour-dispute", "3号楼上下层住户因卫生间漏水发生纠纷。", "3号楼",
              steps=(_Step("10:10", "director", "accept"),)),
    _DemoCase("09:48", 7, 1, "heating-too-cold", "6号楼多户反映室温不足16度。", "6号楼",
              steps=_dispatched("10:15", "10:20", "heating")),
    _DemoCase("10:05", 8, 2, "damaged-road", "小区出口路面塌陷，形成坑洼。", "北出口",
              steps=_dispatched("10:30", "10:35", "housing")),
    # Nobody accepts this one: it is overdue by the afternoon, and the sweep escalates it.
    _DemoCase("10:20", 1, 3, "street-sanitation", "南侧临街商铺门前乱堆纸箱。", "南侧临街商铺"),
)


def _worker(grid: int, index: int) -> str:
    # grid.demo's naming: `worker` is the first worker of grid 1, the others worker_xh<grid>_<n>.
    return "worker" if (grid, index) == (1, 1) else f"worker_xh{grid}_{index}"


def morning_of(today: date | None = None) -> date:
    """The last working day before `today` (holidays and make-up days counted)."""
    day = (today or timezone.localdate()) - timedelta(days=1)
    while not is_workday(day):
        day -= timedelta(days=1)
    return day


@contextmanager
def _clock(moment: datetime) -> Iterator[None]:
    """Run the services as if it were `moment`: every timezone.now() (auto_now fields included) answers it."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def _photo(seed: str) -> SimpleUploadedFile:
    """A small made-up street scene: sky, ground, a few blocks. Drawn, so the seed needs no files."""
    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), (rng.randint(150, 200), rng.randint(190, 220), 235))
    draw = ImageDraw.Draw(image)
    grey = rng.randint(90, 140)
    draw.rectangle((0, 300, 640, 480), fill=(grey, grey, grey - 10))
    for _ in range(6):
        x, y = rng.randint(0, 560), rng.randint(120, 380)
        colour = (rng.randint(60, 220), rng.randint(60, 220), rng.randint(60, 220))
        draw.rectangle((x, y, x + rng.randint(30, 120), y + rng.randint(20, 100)), fill=colour)
    buffer = BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return SimpleUploadedFile(f"{seed}.jpg", buffer.getvalue(), content_type="image/jpeg")


def _point(grid: GridNode, rng: random.Random) -> tuple[Decimal, Decimal]:
    """Near the grid's centroid, well inside its (rectangular) boundary."""
    lat = grid.centroid_lat + Decimal(str((grid.max_lat - grid.min_lat) * rng.uniform(-0.3, 0.3)))
    lon = grid.centroid_lon + Decimal(str((grid.max_lon - grid.min_lon) * rng.uniform(-0.3, 0.3)))
    return lat.quantize(Decimal("0.000001")), lon.quantize(Decimal("0.000001"))


@transaction.atomic
def seed_cases(categories: dict[str, Category], *, day: date | None = None) -> int:
    """The demo morning in Xinghuo Lane; returns the number of cases created (0 when they exist)."""
    community = GridNode.objects.filter(code=XINGHUO_CODE).first()
    if community is None:
        return 0
    demo = Case.objects.filter(subtree_q("grid_path", community.path),
                               description__in=[c.description for c in DEMO_CASES])
    if demo.exists():
        return 0
    grids = {g: GridNode.objects.get(code=f"{XINGHUO_CODE}{g:03d}") for g in range(1, 9)}
    users = {u.username: u for u in get_user_model().objects.filter(
        username__in={"director", "dept"} | {_worker(c.grid, c.worker) for c in DEMO_CASES}
    )}
    departments = Department.objects.in_bulk(field_name="code")
    day = day or morning_of()
    tz = timezone.get_default_timezone()

    def at(hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=tz)

    rng = random.Random(XINGHUO_CODE)
    for number, spec in enumerate(DEMO_CASES, 1):
        reporter = users[_worker(spec.grid, spec.worker)]
        grid = grids[spec.grid]
        lat, lon = _point(grid, rng)
        with _clock(at(spec.at)):
            case = case_report(
                actor=reporter, category=categories[spec.category], description=spec.description, lat=lat, lon=lon,
                address=f"新城区东街街道星火巷社区{XINGHUO_ESTATES[spec.grid - 1]}{spec.where}",
                photos=[_photo(f"demo-{number}-report")], resolve_on_spot=bool(spec.on_spot),
                resolution=spec.on_spot, after_photos=[_photo(f"demo-{number}-after")] if spec.on_spot else (),
            )
        for step in spec.steps:
            actor = reporter if step.actor == "reporter" else users[step.actor]
            with _clock(at(step.at)):
                case = case_transition(
                    actor=actor, case=case, name=step.action, version=case.version, comment=step.comment,
                    department=departments.get(step.department) if step.department else None,
                    photos=[_photo(f"demo-{number}-{step.action}")] if step.photo else (),
                )
    return len(DEMO_CASES)


def _load_holidays() -> str:
    out, err = StringIO(), StringIO()
    call_command("load_holidays", stdout=out, stderr=err)
    return out.getvalue().strip()


def seed(*, actor) -> str:
    """The seeder seed_demo runs (grid.demo.register_seeder): holidays, categories, the demo morning."""
    holidays = _load_holidays()  # first: every deadline below counts working time
    categories = seed_categories()
    created = seed_cases(categories)
    cases = (f"{created} demo cases reported in 星火巷社区 on {morning_of():%Y-%m-%d}" if created
             else "Demo cases exist; left as they are")
    return f"{holidays}\n{len(categories)} case categories ready. {cases}."
