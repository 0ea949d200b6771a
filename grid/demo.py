"""Demo and benchmark data: Xincheng District of Hohhot as the 2015 report describes it, and a
synthetic city of any size for benchmarks. Used by ``manage.py seed_demo`` and bench/grid_scope.py.

The demo tree goes through grid.services (node_create, post_create), the way staff build it. The
thousands of registry rows under it are bulk-inserted instead, so each row's grid_path is set here:
bulk_create skips the save() that normally copies it.

The synthetic city is bulk-inserted from the root down with treebeard paths computed here: at
10,000 grids and a million households, per-node services would take hours.

Both builds are idempotent. The demo city is built once (its city node marks it) while accounts,
passwords, departments and posts are re-ensured on every run; the synthetic city is left alone
when it already has the requested size.
"""

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from guardian.shortcuts import assign_perm

from grid.fields import GridPathField
from grid.geo import rectangle
from grid.idnumbers import id_number_hash, make_id_number
from grid.models import (
    CODE_DIGITS,
    Building,
    Department,
    DuplicateRegistration,
    Estate,
    GridNode,
    GridNodeGroupObjectPermission,
    GridNodeUserObjectPermission,
    Household,
    Level,
    Place,
    PlaceKind,
    Post,
    Resident,
    Role,
    Visit,
    VisitOutcome,
)
from grid.permissions import PATH_END, forget_grants
from grid.services import node_create, post_create, posts_sync_grants, resident_save, visit_record

__all__ = [
    "CITY_CODE",
    "DEMO_PASSWORD",
    "SYNTHETIC_CITY_CODE",
    "XINGHUO_CODE",
    "Box",
    "SeedError",
    "build_demo_city",
    "build_synthetic_city",
    "counts",
    "ensure_admin",
    "ensure_bench_accounts",
    "ensure_demo_accounts",
    "ensure_demo_duplicate",
    "ensure_demo_visits",
    "password_hash",
    "register_seeder",
    "run_seeders",
    "synthetic_size",
]

DEMO_PASSWORD = "civic-demo"

# A progress wrapper: (iterable, description, unit) -> iterable. The command passes tqdm.
Progress = Callable[[Iterable, str, str], Iterable]


def _no_progress(iterable: Iterable, desc: str = "", unit: str = "") -> Iterable:
    return iterable


class SeedError(Exception):
    """The database is not in a state the seed can build on; the message says what to do."""


#
# Geometry: every node is a box, tiled into its children's boxes
#


def _edges(low: float, high: float, parts: int) -> list[float]:
    # The last edge is `high` itself, so children cover their parent exactly despite float error.
    return [round(low + (high - low) * i / parts, 6) for i in range(parts)] + [high]


def _split(total: int, parts: int) -> list[int]:
    """`total` cut into `parts` near-equal sizes, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]


@dataclass(frozen=True)
class Box:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def boundary(self) -> dict:
        return rectangle(self.min_lon, self.min_lat, self.max_lon, self.max_lat)

    def centre(self) -> tuple[Decimal, Decimal]:
        """(lat, lon) rounded to the model's 6 decimals."""
        lat = round((self.min_lat + self.max_lat) / 2, 6)
        lon = round((self.min_lon + self.max_lon) / 2, 6)
        return Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}")

    def random_point(self, rng: random.Random) -> tuple[Decimal, Decimal]:
        lat = rng.uniform(self.min_lat, self.max_lat)
        lon = rng.uniform(self.min_lon, self.max_lon)
        return Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}")

    def _rows_for(self, n: int) -> int:
        # A degree of longitude is shorter than one of latitude away from the equator: compare
        # kilometres, so that cells come out near square rather than as thin strips.
        width = (self.max_lon - self.min_lon) * math.cos(math.radians((self.min_lat + self.max_lat) / 2))
        height = self.max_lat - self.min_lat

        def squareness(rows: int) -> float:
            return abs(math.log((width / math.ceil(n / rows)) / (height / rows)))

        return min(range(1, n + 1), key=squareness)

    def tile(self, n: int) -> list["Box"]:
        """`n` boxes that cover this one exactly without overlapping: rows of near-equal cells."""
        rows = self._rows_for(n)
        lat_edges = _edges(self.min_lat, self.max_lat, rows)
        boxes = []
        for row, cols in enumerate(_split(n, rows)):
            lon_edges = _edges(self.min_lon, self.max_lon, cols)
            boxes += [Box(lon_edges[c], lat_edges[row], lon_edges[c + 1], lat_edges[row + 1]) for c in range(cols)]
        return boxes


#
# Accounts
#


def password_hash() -> str:
    """One hash per run for every demo account: hashing ~35 passwords separately takes ~10 s."""
    return make_password(DEMO_PASSWORD)


def _ensure_user(username: str, *, hashed: str, name: str = "", staff: bool = True, superuser: bool = False):
    """Create or reset a demo account: flags and password are put back on every run, names only at creation."""
    last_name, first_name = (name[:1], name[1:]) if name else ("", "")
    user, _created = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first_name, "last_name": last_name}
    )
    user.is_staff, user.is_superuser, user.is_active, user.password = staff or superuser, superuser, True, hashed
    user.save(update_fields=["is_staff", "is_superuser", "is_active", "password"])
    return user


def _ensure_post(*, actor, user, role: str, node: GridNode | None = None, department: Department | None = None):
    at = department.node if department is not None else node
    if not Post.objects.filter(user=user, role=role, node=at).exists():
        post_create(actor=actor, user=user, role=role, node=None if department else node, department=department)


def ensure_admin(hashed: str):
    return _ensure_user("admin", hashed=hashed, superuser=True)


#
# The demo city: Hohhot → Xincheng District → 8 street offices → communities → grids
#

CITY_CODE = "1501"
DISTRICT_CODE = "150102"
# Rough boxes: Hohhot's urban area, and Xincheng in its north-east.
CITY_BOX = Box(111.40, 40.60, 112.00, 41.00)
DISTRICT_BOX = Box(111.66, 40.80, 111.76, 40.88)

# Street offices of Xincheng District in code order, with their communities.
STREETS = (
    ("海拉尔东路街道", ("海东社区", "光明社区", "北垣社区")),
    ("锡林南路街道", ("满都海社区", "锡林社区")),
    ("东街街道", ("星火巷社区", "将军衙署社区", "东门外社区")),
    ("西街街道", ("落凤街社区", "县府街社区")),
    ("中山东路街道", ("新华社区", "团结社区", "工农兵路社区")),
    ("迎新路街道", ("迎新社区", "丰州路社区")),
    ("东风路街道", ("东风社区", "乌兰察布路社区", "兴安社区")),
    ("成吉思汗大街街道", ("苏虎街社区", "公主府社区")),
)
EAST_STREET_CODE = DISTRICT_CODE + "003"  # 东街街道
HAILAR_STREET_CODE = DISTRICT_CODE + "001"  # 海拉尔东路街道
XINGHUO_CODE = EAST_STREET_CODE + "001"  # 星火巷社区: first community of 东街街道
XINGHUO_GRIDS = 8
XINGHUO_WORKERS_PER_GRID = 3
# Estates of the report (百灵小区, 文联大院, 化肥楼) and their neighbours, one per Xinghuo grid.
XINGHUO_ESTATES = ("百灵小区", "文联大院", "化肥楼小区", "星火小区", "电业局宿舍", "东影小区", "邮电小区", "园林小区")
ESTATE_SUFFIXES = ("小区", "家园", "花园", "佳苑")
CHINESE_NUMERALS = "零一二三四五六七八九十"

DEPARTMENTS = (
    ("city-management", "新城区城市管理综合执法局"),
    ("sanitation", "新城区环境卫生管理局"),
    ("water-supply", "春华水务新城区供水所"),
    ("heating", "新城区供热管理办公室"),
    ("housing", "新城区住房和城乡建设局"),
    ("public-security", "呼和浩特市公安局新城分局"),
)

BUSINESSES = ("便民超市", "烧麦馆", "奶茶馆", "大药房", "理发店", "五金店", "水果店", "家常菜馆", "早点铺", "干洗店")
PUBLIC_PLACES = ("小学", "公园", "社区卫生服务站", "幼儿园", "老年活动中心", "文化广场", "社区图书室", "公共厕所")

HAN_SURNAMES = tuple(
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯董程曹袁邓许沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜"
    "戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟云包乌奇"
)
MALE_GIVEN = (
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏",
    "华", "飞", "斌", "建国", "志强", "海军", "建华", "文斌", "国庆", "永刚", "俊峰", "晓东", "浩然",
)
FEMALE_GIVEN = (
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "桂英",
    "玉兰", "淑珍", "晓燕", "丽华", "海燕", "春梅", "婷婷", "欣怡", "雨桐", "梓涵",
)
# Many Mongolian residents of Hohhot go by their given name alone.
MONGOLIAN_MALE = ("巴特尔", "苏和", "额尔敦", "宝音", "朝鲁", "那顺", "孟和", "布和")
MONGOLIAN_FEMALE = ("其其格", "乌云", "萨仁", "娜仁", "图雅", "高娃", "斯琴")
# Birthplace region codes for ID numbers: mostly Xincheng, some from elsewhere in Inner Mongolia.
REGIONS = (("150102", 60), ("150103", 8), ("150104", 8), ("150105", 8), ("150121", 6), ("150203", 5), ("150902", 5))


@dataclass(frozen=True)
class _GridPlan:
    node: GridNode
    box: Box
    households: int
    street: str
    community: str
    estate: str
    public_place: str


def _short(community: str) -> str:
    return community.removesuffix("社区")


def _node(actor, parent: GridNode | None, level: int, segment: int, name: str, box: Box) -> GridNode:
    code = (parent.code if parent else "") + f"{segment:0{CODE_DIGITS[level]}d}"
    lat, lon = box.centre()
    return node_create(
        actor=actor, parent=parent, level=level, code=code, name=name, boundary=box.boundary(),
        centroid_lat=lat, centroid_lon=lon,
    )


def _build_demo_tree(actor, rng: random.Random, progress: Progress) -> list[_GridPlan]:
    city = _node(actor, None, Level.CITY, int(CITY_CODE), "呼和浩特市", CITY_BOX)
    district = _node(actor, city, Level.DISTRICT, int(DISTRICT_CODE[-2:]), "新城区", DISTRICT_BOX)
    plans: list[_GridPlan] = []
    streets = list(zip(STREETS, DISTRICT_BOX.tile(len(STREETS)), strict=True))
    for s, ((street_name, communities), street_box) in enumerate(progress(streets, "Street offices", "street"), 1):
        street = _node(actor, district, Level.STREET_OFFICE, s, street_name, street_box)
        for c, (community_name, box) in enumerate(zip(communities, street_box.tile(len(communities)), strict=True), 1):
            community = _node(actor, street, Level.COMMUNITY, c, community_name, box)
            plans += _build_grids(actor, rng, community, box, street_name, len(plans))
    return plans


def _build_grids(actor, rng, community: GridNode, box: Box, street: str, before: int) -> list[_GridPlan]:
    xinghuo = community.code == XINGHUO_CODE
    # The report's community: 8 grids of ~500 households; the rest stay small to keep the seed fast.
    count = XINGHUO_GRIDS if xinghuo else rng.randint(2, 4)
    plans = []
    for g, grid_box in enumerate(box.tile(count), 1):
        name = f"{_short(community.name)}第{CHINESE_NUMERALS[g]}网格"
        estate = XINGHUO_ESTATES[g - 1] if xinghuo else _short(community.name) + ESTATE_SUFFIXES[g - 1]
        plans.append(_GridPlan(
            node=_node(actor, community, Level.GRID, g, name, grid_box), box=grid_box,
            households=rng.randint(490, 510) if xinghuo else rng.randint(20, 60),
            street=street, community=community.name, estate=estate,
            public_place=PUBLIC_PLACES[(before + g) % len(PUBLIC_PLACES)],
        ))
    return plans


class _IdNumbers:
    """Unique, well-formed ID numbers: the sequence counts per region, birth date and sex.

    The sequence's last digit is the sex digit (odd for men), as on real cards.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[tuple[str, date, bool], int] = {}
        self.regions, self.weights = zip(*REGIONS, strict=True)

    def make(self, birth: date, male: bool) -> str:
        region = self.rng.choices(self.regions, self.weights)[0]
        while self.used.get((region, birth, male), 0) >= 500:
            birth += timedelta(days=1)
        n = self.used.get((region, birth, male), 0)
        self.used[(region, birth, male)] = n + 1
        return make_id_number(region, birth.strftime("%Y%m%d"), 2 * n + int(male))


def _person_name(rng: random.Random, male: bool, surname: str | None) -> str:
    if surname is None:
        return rng.choice(MONGOLIAN_MALE if male else MONGOLIAN_FEMALE)
    return surname + rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)


def _birth(rng: random.Random, year: int) -> date:
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def _family(rng: random.Random, ids: _IdNumbers) -> list[dict]:
    """A plausible household: head, spouse, up to two children, sometimes a parent of the head."""
    size = rng.choices((1, 2, 3, 4, 5), weights=(14, 30, 32, 17, 7))[0]
    mongolian = rng.random() < 0.1

    def surname() -> str | None:
        return None if mongolian else rng.choice(HAN_SURNAMES)

    family = surname()
    head_male = rng.random() < 0.65
    head_year = rng.randint(1945, 1988)
    head_surname = family if head_male else surname()
    members = [(head_male, head_year, "户主", head_surname)]
    if size >= 2:
        members.append((not head_male, head_year + rng.randint(-4, 4), "配偶", surname() if head_male else family))
    for _ in range(min(size - 2, 2)):
        male = rng.random() < 0.5
        members.append((male, min(head_year + rng.randint(23, 34), 2014), "子" if male else "女", family))
    if size == 5:
        male = rng.random() < 0.5
        members.append((male, head_year - rng.randint(24, 32), "父亲" if male else "母亲",
                        head_surname if male else surname()))
    return [
        {"name": _person_name(rng, male, name), "id_number": ids.make(_birth(rng, year), male), "relation": relation}
        for male, year, relation, name in members
    ]


def _fill_grid(plan: _GridPlan, rng: random.Random, ids: _IdNumbers) -> None:
    grid, path = plan.node, plan.node.path
    estate = Estate.objects.create(grid=grid, name=plan.estate, address=f"新城区{plan.street}{plan.community}")
    per_building = 24  # 6 floors × 2 units × 2 flats
    count = math.ceil(plan.households / per_building)
    buildings = Building.objects.bulk_create(
        Building(estate=estate, number=str(n), floors=6) for n in range(1, count + 1)
    )
    families = [_family(rng, ids) for _ in range(plan.households)]
    households = Household.objects.bulk_create(
        Household(
            grid=grid, grid_path=path, building=buildings[i // per_building], head_name=family[0]["name"],
            address=f"{estate.name}{i // per_building + 1}号楼{i % 4 // 2 + 1}单元{i % 24 // 4 + 1}0{i % 2 + 1}室",
            phone=_phone(rng),
        )
        for i, family in enumerate(families)
    )
    # bulk_create skips Resident.save(), which keeps the look-up hash in step with the number.
    Resident.objects.bulk_create(
        (Resident(household=household, phone=household.phone if person["relation"] == "户主" else "",
                  id_number_hash=id_number_hash(person["id_number"]), **person)
         for household, family in zip(households, families, strict=True) for person in family),
        batch_size=2000,
    )
    Place.objects.bulk_create(_places(plan, rng))


def _places(plan: _GridPlan, rng: random.Random) -> list[Place]:
    short = _short(plan.community)
    named = [(PlaceKind.PUBLIC_PLACE, short + plan.public_place)]
    named += [(PlaceKind.BUSINESS, plan.estate + kind) for kind in rng.sample(BUSINESSES, rng.randint(1, 3))]
    places = []
    for number, (kind, name) in enumerate(named, 1):
        lat, lon = plan.box.random_point(rng)
        places.append(Place(
            grid=plan.node, grid_path=plan.node.path, kind=kind, name=name, lat=lat, lon=lon,
            address=f"新城区{plan.street}{short}{number * 7}号", contact_phone=_phone(rng),
        ))
    return places


def build_demo_city(*, actor, progress: Progress = _no_progress) -> bool:
    """Build the demo city unless it exists; True if it was built. All or nothing."""
    if GridNode.objects.filter(code=CITY_CODE).exists():
        return False
    rng = random.Random(CITY_CODE)  # the same city on every fresh database
    with transaction.atomic():
        plans = _build_demo_tree(actor, rng, progress)
        ids = _IdNumbers(rng)
        for plan in progress(plans, "Registry", "grid"):
            _fill_grid(plan, rng, ids)
    return True


@dataclass(frozen=True)
class _Account:
    username: str
    name: str
    role: str | None = None
    node_code: str | None = None
    department: str | None = None


def _demo_accounts() -> list[_Account]:
    xinghuo_grid = [f"{XINGHUO_CODE}{g:03d}" for g in range(1, XINGHUO_GRIDS + 1)]
    accounts = [
        _Account("district", "高建国", Role.DISTRICT_COMMANDER, DISTRICT_CODE),
        _Account("street", "李丽华", Role.STREET_OFFICER, EAST_STREET_CODE),
        _Account("street2", "王志强", Role.STREET_OFFICER, HAILAR_STREET_CODE),
        # The community director and the grid worker the report quotes.
        _Account("director", "云景俐", Role.COMMUNITY_DIRECTOR, XINGHUO_CODE),
        _Account("worker", "刘兴文", Role.GRID_WORKER, xinghuo_grid[0]),
        _Account("worker2", "张海军", Role.GRID_WORKER, HAILAR_STREET_CODE + "001001"),
        _Account("dept", "赵秀英", Role.DEPARTMENT_STAFF, department="sanitation"),
    ]
    rng = random.Random("xinghuo-workers")
    for g, code in enumerate(xinghuo_grid, 1):
        for i in range(1, XINGHUO_WORKERS_PER_GRID + 1):
            if (g, i) != (1, 1):  # `worker` is the first worker of grid 1
                male = rng.random() < 0.5
                accounts.append(_Account(f"worker_xh{g}_{i}", _person_name(rng, male, rng.choice(HAN_SURNAMES)),
                                         Role.GRID_WORKER, code))
    return accounts


def _ensure_departments() -> dict[str, Department]:
    district = GridNode.objects.get(code=DISTRICT_CODE)
    return {
        code: Department.objects.get_or_create(code=code, defaults={"node": district, "name": name})[0]
        for code, name in DEPARTMENTS
    }


@transaction.atomic
def ensure_demo_accounts(*, actor, hashed: str) -> int:
    """Departments, demo accounts and their posts; returns the number of accounts."""
    nodes = {node.code: node for node in GridNode.objects.filter(code__startswith=CITY_CODE, level__gte=Level.DISTRICT)}
    departments = _ensure_departments()
    accounts = _demo_accounts()
    for account in accounts:
        if account.node_code and account.node_code not in nodes:
            raise SeedError(f"Node {account.node_code} is missing: city {CITY_CODE} was not built by seed_demo.")
        user = _ensure_user(account.username, hashed=hashed, name=account.name)
        department = departments.get(account.department) if account.department else None
        _ensure_post(actor=actor, user=user, role=account.role, node=nodes.get(account.node_code),
                     department=department)
    director = get_user_model().objects.get(username="director")
    # Seeing unmasked ID numbers is never implied by a post; the director is granted it explicitly.
    assign_perm("grid.view_personal_id", director, nodes[XINGHUO_CODE])
    forget_grants(director)
    _ensure_user("citizen", hashed=hashed, name="陈明", staff=False)
    return len(accounts) + 2  # with admin and citizen


#
# Patrols: the past weeks of visits by Xinghuo Lane's grid workers
#

VISIT_DAYS = 90
# `worker`'s grid has been walked nearly end to end, so its patrol list shows both the few
# households never visited and the oldest visits; the other grids have only just begun.
VISIT_SHARE = {1: 0.97}
OTHER_GRIDS_VISIT_SHARE = 0.05
VISIT_NOTES = {
    VisitOutcome.ALL_WELL: ("", "", "", "家中一切正常", "老人身体硬朗", "已宣传垃圾分类", "已登记新生儿"),
    VisitOutcome.PROBLEM_FOUND: (
        "楼道堆放杂物，已提醒清理", "独居老人，需定期探望", "暖气不热，已告知供热办", "下水道堵塞，已联系物业",
        "消防通道被电动车占用", "外墙瓷砖松动",
    ),
    VisitOutcome.NOBODY_HOME: ("", "家中无人，改日再访", "门上留了联系卡"),
}
VISIT_OUTCOME_WEIGHTS = {VisitOutcome.ALL_WELL: 75, VisitOutcome.PROBLEM_FOUND: 10, VisitOutcome.NOBODY_HOME: 15}


def _past_visit_time(rng: random.Random) -> datetime:
    """A working-hours moment of one of the last VISIT_DAYS days, in the local time zone."""
    day = timezone.localdate() - timedelta(days=rng.randint(1, VISIT_DAYS))
    return timezone.make_aware(datetime.combine(day, time(rng.randint(9, 16), rng.randrange(60))))


def _record_demo_visit(rng: random.Random, visitors: list, **target) -> None:
    outcome = rng.choices(list(VISIT_OUTCOME_WEIGHTS), list(VISIT_OUTCOME_WEIGHTS.values()))[0]
    visit_record(actor=rng.choice(visitors), outcome=outcome, note=rng.choice(VISIT_NOTES[outcome]),
                 visited_at=_past_visit_time(rng), **target)


@transaction.atomic
def ensure_demo_visits(*, progress: Progress = _no_progress) -> int:
    """Past visits of Xinghuo Lane's grid workers, through grid.services; recorded once. Returns how
    many were recorded now."""
    community = GridNode.objects.get(code=XINGHUO_CODE)
    if _subtree(Visit.objects.all(), "grid_path", community.path).exists():
        return 0
    # A demo database seeded before visits existed holds posts without the right to record them.
    posts_sync_grants()
    rng = random.Random("xinghuo-visits")
    recorded = 0
    for g, grid in enumerate(progress(list(community.get_children()), "Patrol visits", "grid"), 1):
        visitors = [post.user for post in Post.objects.filter(node=grid, role=Role.GRID_WORKER).select_related("user")]
        share = VISIT_SHARE.get(g, OTHER_GRIDS_VISIT_SHARE)
        for household in Household.objects.filter(grid=grid):
            if rng.random() < share:
                # Some households are visited again: the list then counts and dates their last visit.
                for _ in range(rng.choices((1, 2, 3), weights=(70, 22, 8))[0]):
                    _record_demo_visit(rng, visitors, household=household)
                    recorded += 1
        for place in Place.objects.filter(grid=grid):
            if rng.random() < share:
                _record_demo_visit(rng, visitors, place=place)
                recorded += 1
    return recorded


#
# A duplicate registration for the district commander to review
#


@transaction.atomic
def ensure_demo_duplicate() -> int:
    """worker2 registers, in their grid of another street, a number that a Xinghuo Lane resident holds:
    accepted as for any number (worker2 cannot see Xinghuo Lane), and under review by `district`, the
    lowest post covering both. Once; returns how many were made now."""
    if DuplicateRegistration.objects.exists():
        return 0
    worker2 = get_user_model().objects.get(username="worker2")
    grid = Post.objects.get(user=worker2, role=Role.GRID_WORKER).node
    household = Household.objects.filter(grid=grid).order_by("id").first()
    original = Resident.objects.filter(household__grid__code=XINGHUO_CODE + "001").order_by("id").first()
    if household is None or original is None:
        return 0
    resident_save(actor=worker2, resident=Resident(household=household, name="赵建华", relation="租户",
                                                   id_number=original.id_number))
    return 1


#
# Seeders of apps above grid
#

# Apps above grid (cases, bills, ...) add their demo data to the demo city: each registers, from its
# AppConfig.ready(), a callable (or its dotted path, imported only when seeding) taking the keyword
# `actor` (the admin account) and returning a line for the command to print, or None. grid knows
# nothing of them. They run after the city and its accounts exist, in registration order.
_SEEDERS: list[Callable[..., str | None] | str] = []


def register_seeder(seeder: Callable[..., str | None] | str) -> None:
    if seeder not in _SEEDERS:
        _SEEDERS.append(seeder)


def run_seeders(*, actor) -> list[str]:
    """Run every registered seeder; returns what they report."""
    messages = []
    for seeder in _SEEDERS:
        function = import_string(seeder) if isinstance(seeder, str) else seeder
        message = function(actor=actor)
        if message:
            messages.append(message)
    return messages


#
# The synthetic city for benchmarks
#

SYNTHETIC_CITY_CODE = "9901"
# A square well away from Hohhot, so that locate() never mixes the two cities up.
SYNTHETIC_BOX = Box(100.0, 30.0, 102.0, 32.0)
_SYNTHETIC_NAMES = {Level.DISTRICT: "基准区", Level.STREET_OFFICE: "基准街道", Level.COMMUNITY: "基准社区",
                    Level.GRID: "基准网格"}
_BELOW_CITY = (Level.DISTRICT, Level.STREET_OFFICE, Level.COMMUNITY, Level.GRID)


def _fanout(leaves: int, levels: int) -> int:
    """The smallest k with k ** levels >= leaves: a tree as balanced as the leaf count allows."""
    k = 1
    while k**levels < leaves:
        k += 1
    return k


def _subtree(queryset, lookup: str, path: str):
    return queryset.filter(**{f"{lookup}__gte": path, f"{lookup}__lt": path + PATH_END})


def synthetic_size() -> tuple[GridNode | None, int, int]:
    """(root, grids, households) of the synthetic city; (None, 0, 0) when there is none."""
    root = GridNode.objects.filter(code=SYNTHETIC_CITY_CODE).first()
    if root is None:
        return None, 0, 0
    grids = _subtree(GridNode.objects.filter(level=Level.GRID), "path", root.path).count()
    return root, grids, _subtree(Household.objects.all(), "grid_path", root.path).count()


def _synthetic_node(parent: GridNode, level: int, index: int, box: Box) -> GridNode:
    if index >= 10 ** CODE_DIGITS[level]:
        raise SeedError(f"{index} children do not fit in a {CODE_DIGITS[level]}-digit code: ask for fewer grids.")
    code = f"{parent.code}{index:0{CODE_DIGITS[level]}d}"
    lat, lon = box.centre()
    # bulk_create skips GridNode.save(), which would fill the bounding box from the boundary.
    return GridNode(
        path=GridNode._get_path(parent.path, level, index), depth=level, numchild=0, level=level, code=code,
        name=f"{_SYNTHETIC_NAMES[level]}{code}", boundary=box.boundary(), centroid_lat=lat, centroid_lon=lon,
        min_lon=box.min_lon, min_lat=box.min_lat, max_lon=box.max_lon, max_lat=box.max_lat,
    )


def _plan_synthetic(root: GridNode, grids: int) -> list[GridNode]:
    """Every node below the root, level by level, with numchild set (the root's too, in memory)."""
    nodes: list[GridNode] = []
    frontier = [(root, SYNTHETIC_BOX, grids)]
    for level in _BELOW_CITY:
        next_frontier = []
        for parent, box, leaves in frontier:
            k = _fanout(leaves, Level.GRID - level + 1)
            parent.numchild = k
            for index, (size, child_box) in enumerate(zip(_split(leaves, k), box.tile(k), strict=True), 1):
                child = _synthetic_node(parent, level, index, child_box)
                nodes.append(child)
                next_frontier.append((child, child_box, size))
        frontier = next_frontier
    return nodes


def _insert_households_postgresql(root: GridNode, per_grid: int, progress: Progress) -> None:
    # One statement per round, one household per grid each: ids interleave across grids as they
    # would after years of registration, instead of running grid by grid.
    quote = connection.ops.quote_name
    field = Household._meta.get_field
    columns = ", ".join(quote(field(f).column) for f in
                        ("grid", "grid_path", "building", "address", "head_name", "phone", "registered_at"))
    sql = (
        f"INSERT INTO {quote(Household._meta.db_table)} ({columns}) "
        f"SELECT id, path, NULL, name || %s, '', '', %s FROM {quote(GridNode._meta.db_table)} "
        "WHERE level = %s AND path >= %s AND path < %s ORDER BY path"
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        for i in progress(range(1, per_grid + 1), "Households", "round"):
            cursor.execute(sql, [f" {i}号", now, Level.GRID, root.path, root.path + PATH_END])


def _insert_households_bulk(root: GridNode, per_grid: int, progress: Progress) -> None:
    grids = list(_subtree(GridNode.objects.filter(level=Level.GRID), "path", root.path)
                 .order_by("path").values_list("id", "path", "name"))
    for i in progress(range(1, per_grid + 1), "Households", "round"):
        Household.objects.bulk_create(
            (Household(grid_id=pk, grid_path=path, address=f"{name} {i}号") for pk, path, name in grids),
            batch_size=5000,
        )


def _delete_synthetic(root: GridNode) -> None:
    """Raw deletes for the big tables; the collector (which checks PROTECT) for the rest."""
    path = root.path
    residents = _subtree(Resident.objects.all(), "household__grid_path", path)
    residents._raw_delete(residents.db)
    households = _subtree(Household.objects.all(), "grid_path", path)
    households._raw_delete(households.db)
    _subtree(Building.objects.all(), "estate__grid_path", path).delete()
    for model in apps.get_models():  # Estate, Place and the records of apps above grid
        for f in model._meta.concrete_fields:
            if isinstance(f, GridPathField) and model not in (GridNode, Household):
                _subtree(model._base_manager.all(), f.name, path).delete()
    _subtree(Post.objects.all(), "node__path", path).delete()
    _subtree(Department.objects.all(), "node__path", path).delete()
    for grants in (GridNodeUserObjectPermission, GridNodeGroupObjectPermission):
        _subtree(grants.objects.all(), "content_object__path", path).delete()
    GridNode.objects.filter(pk=root.pk).delete()  # treebeard takes the descendants


def build_synthetic_city(*, actor, grids: int, households_per_grid: int, replace: bool = False,
                         progress: Progress = _no_progress) -> str:
    """Build the synthetic city of `grids` grids unless it exists at that size; returns what happened."""
    if grids < 1 or households_per_grid < 0:
        raise SeedError("--scale must be at least 1 and --households-per-grid at least 0.")
    root, have_grids, have_households = synthetic_size()
    if root is not None:
        if (have_grids, have_households) == (grids, grids * households_per_grid):
            return f"Synthetic city {SYNTHETIC_CITY_CODE} exists with {grids} grids and {have_households} households."
        if not replace:
            raise SeedError(
                f"Synthetic city {SYNTHETIC_CITY_CODE} exists with {have_grids} grids and {have_households} "
                f"households, not {grids} and {grids * households_per_grid}: pass --replace to rebuild it."
            )
    with transaction.atomic():
        if root is not None:
            _delete_synthetic(root)
        _build_synthetic(actor, grids, households_per_grid, progress)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, or the planner guesses on a million new rows
            cursor.execute(f"ANALYZE {GridNode._meta.db_table}, {Household._meta.db_table}")
    return f"Built synthetic city {SYNTHETIC_CITY_CODE}: {grids} grids, {grids * households_per_grid} households."


def _build_synthetic(actor, grids: int, per_grid: int, progress: Progress) -> None:
    lat, lon = SYNTHETIC_BOX.centre()
    root = node_create(actor=actor, parent=None, level=Level.CITY, code=SYNTHETIC_CITY_CODE, name="基准城",
                       boundary=SYNTHETIC_BOX.boundary(), centroid_lat=lat, centroid_lon=lon)
    nodes = _plan_synthetic(root, grids)
    GridNode.objects.filter(pk=root.pk).update(numchild=root.numchild)
    batch = 2000
    for start in progress(range(0, len(nodes), batch), f"Nodes ({len(nodes)})", "batch"):
        GridNode.objects.bulk_create(nodes[start:start + batch])
    insert = _insert_households_postgresql if connection.vendor == "postgresql" else _insert_households_bulk
    insert(root, per_grid, progress)


def _middle(nodes):
    return nodes[len(nodes) // 2]


@transaction.atomic
def ensure_bench_accounts(*, actor, hashed: str) -> dict[str, object]:
    """bench_district and bench_street, posted in the middle of the synthetic city (not at its edge)."""
    root = GridNode.objects.get(code=SYNTHETIC_CITY_CODE)
    district = _middle(list(root.get_children()))
    street = _middle(list(district.get_children()))
    posts = {"bench_district": (Role.DISTRICT_COMMANDER, district), "bench_street": (Role.STREET_OFFICER, street)}
    users = {}
    for username, (role, node) in posts.items():
        user = _ensure_user(username, hashed=hashed, name="")
        held = _subtree(Post.objects.filter(user=user, role=role), "node__path", root.path)
        if not held.exists():
            _ensure_post(actor=actor, user=user, role=role, node=node)
        users[username] = user
    return users


#
# Summary
#


def counts() -> dict[str, int]:
    return {
        "nodes": GridNode.objects.count(),
        "grids": GridNode.objects.filter(level=Level.GRID).count(),
        "households": Household.objects.count(),
        "residents": Resident.objects.count(),
        "places": Place.objects.count(),
        "departments": Department.objects.count(),
        "posts": Post.objects.count(),
        "visits": Visit.objects.count(),
        "users": get_user_model().objects.count(),
    }
