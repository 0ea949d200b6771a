"""The demo city: Hohhot → Xincheng District → 8 street offices → communities → grids, with the
households, residents, places and staff the 2015 report describes.

The tree goes through grid.services (node_create, post_create), the way staff build it. The
thousands of registry rows under it are bulk-inserted instead, so each row's grid_path is set here:
bulk_create skips the save() that normally copies it. The city is built once (its city node marks
it) while accounts, passwords, departments and posts are re-ensured on every run.
"""

import math
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from guardian.shortcuts import assign_perm

from grid.demo.accounts import ensure_demo_post, ensure_demo_user
from grid.demo.geometry import Box
from grid.demo.names import HAN_SURNAMES, IdNumbers, family, person_name, phone
from grid.demo.progress import Progress, SeedError, no_progress
from grid.idnumbers import id_number_hash
from grid.models import (
    CODE_DIGITS,
    Building,
    Department,
    Estate,
    GridNode,
    Household,
    Level,
    Place,
    PlaceKind,
    Post,
    Resident,
    Role,
    Visit,
)
from grid.permissions import forget_grants
from grid.services import node_create

__all__ = [
    "CITY_CODE", "DEPARTMENTS", "DISTRICT_CODE", "EAST_STREET_CODE", "XINGHUO_CODE", "XINGHUO_ESTATES",
    "XINGHUO_GRIDS", "build_demo_city", "counts", "ensure_demo_accounts",
]

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


def _fill_grid(plan: _GridPlan, rng: random.Random, ids: IdNumbers) -> None:
    grid, path = plan.node, plan.node.path
    estate = Estate.objects.create(grid=grid, name=plan.estate, address=f"新城区{plan.street}{plan.community}")
    per_building = 24  # 6 floors × 2 units × 2 flats
    count = math.ceil(plan.households / per_building)
    buildings = Building.objects.bulk_create(
        Building(estate=estate, number=str(n), floors=6) for n in range(1, count + 1)
    )
    families = [family(rng, ids) for _ in range(plan.households)]
    households = Household.objects.bulk_create(
        Household(
            grid=grid, grid_path=path, building=buildings[i // per_building], head_name=family[0]["name"],
            address=f"{estate.name}{i // per_building + 1}号楼{i % 4 // 2 + 1}单元{i % 24 // 4 + 1}0{i % 2 + 1}室",
            phone=phone(rng),
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
            address=f"新城区{plan.street}{short}{number * 7}号", contact_phone=phone(rng),
        ))
    return places


def build_demo_city(*, actor, progress: Progress = no_progress) -> bool:
    """Build the demo city unless it exists; True if it was built. All or nothing."""
    if GridNode.objects.filter(code=CITY_CODE).exists():
        return False
    rng = random.Random(CITY_CODE)  # the same city on every fresh database
    with transaction.atomic():
        plans = _build_demo_tree(actor, rng, progress)
        ids = IdNumbers(rng)
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
                accounts.append(_Account(f"worker_xh{g}_{i}", person_name(rng, male, rng.choice(HAN_SURNAMES)),
                                         Role.GRID_WORKER, code))
    return accounts


def _ensure_departments() -> dict[str, Department]:
    district = GridNode.objects.get(code=DISTRICT_CODE)
    return {
        code: Department.objects.get_or_create(code=code, defaults={"node": district, "name": name})[0]
        for code, name in DEPARTMENTS
    }


@transaction.atomic
def ensure_demo_accounts(*, actor) -> int:
    """Departments, demo accounts and their posts; returns the number of accounts."""
    nodes = {node.code: node for node in GridNode.objects.filter(code__startswith=CITY_CODE, level__gte=Level.DISTRICT)}
    departments = _ensure_departments()
    accounts = _demo_accounts()
    for account in accounts:
        if account.node_code and account.node_code not in nodes:
            raise SeedError(f"Node {account.node_code} is missing: city {CITY_CODE} was not built by seed_demo.")
        user = ensure_demo_user(account.username, name=account.name)
        department = departments.get(account.department) if account.department else None
        ensure_demo_post(actor=actor, user=user, role=account.role, node=nodes.get(account.node_code),
                     department=department)
    director = get_user_model().objects.get(username="director")
    # Seeing unmasked ID numbers is never implied by a post; the director is granted it explicitly.
    assign_perm("grid.view_personal_id", director, nodes[XINGHUO_CODE])
    forget_grants(director)
    ensure_demo_user("citizen", name="陈明", staff=False)
    return len(accounts) + 2  # with admin and citizen


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
