"""Demo and benchmark data, run by ``manage.py seed_demo``: Xincheng District of Hohhot as the 2015
report describes it (city.py, with its accounts and patrol visits), a synthetic city of any size
for benchmarks (synthetic.py), and the registry through which the apps above grid add their own demo
data (registry.py). Every build is idempotent.
"""

from grid.demo.accounts import DEMO_PASSWORD, ensure_admin, ensure_demo_post, ensure_demo_user
from grid.demo.city import (
    CITY_CODE,
    DISTRICT_CODE,
    XINGHUO_CODE,
    XINGHUO_ESTATES,
    build_demo_city,
    counts,
    ensure_demo_accounts,
)
from grid.demo.duplicates import ensure_demo_duplicate
from grid.demo.progress import SeedError
from grid.demo.registry import register_seeder, run_seeders
from grid.demo.synthetic import SYNTHETIC_CITY_CODE, build_synthetic_city, ensure_bench_accounts, synthetic_size
from grid.demo.visits import ensure_demo_visits

__all__ = [
    "CITY_CODE",
    "DEMO_PASSWORD",
    "DISTRICT_CODE",
    "SYNTHETIC_CITY_CODE",
    "XINGHUO_CODE",
    "XINGHUO_ESTATES",
    "SeedError",
    "build_demo_city",
    "build_synthetic_city",
    "counts",
    "ensure_admin",
    "ensure_bench_accounts",
    "ensure_demo_accounts",
    "ensure_demo_duplicate",
    "ensure_demo_post",
    "ensure_demo_user",
    "ensure_demo_visits",
    "register_seeder",
    "run_seeders",
    "synthetic_size",
]
