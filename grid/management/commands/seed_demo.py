"""``manage.py seed_demo``: the Xincheng District demo city and its accounts (password ``civic-demo``).

``seed_demo --scale N [--households-per-grid H] [--replace]`` builds only the synthetic benchmark
city of N grids instead (plus the admin, bench_street and bench_district accounts).

Both forms are idempotent: a second run creates no rows, it only resets the demo passwords.
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from grid import demo


class Command(BaseCommand):
    help = (
        "Seed the demo city (Hohhot, Xincheng District) with accounts, or with --scale N a synthetic city of N grids "
        f"for benchmarks. Demo password: {demo.DEMO_PASSWORD}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, metavar="N", help="Build the synthetic benchmark city of N grids.")
        parser.add_argument("--households-per-grid", type=int, default=100, metavar="H",
                            help="Households per synthetic grid (default 100).")
        parser.add_argument("--replace", action="store_true",
                            help="Rebuild the synthetic city if it exists with another size.")

    def handle(self, *args, scale=None, households_per_grid=100, replace=False, **options):
        self.quiet = options["verbosity"] == 0
        admin = demo.ensure_admin()
        try:
            if scale is None:
                self._demo(admin)
            else:
                self._synthetic(admin, scale, households_per_grid, replace)
        except demo.SeedError as exc:
            raise CommandError(str(exc)) from exc
        self._summary()

    def _progress(self, iterable, desc: str, unit: str):
        # tqdm draws with carriage returns, which Django's OutputWrapper would break with newlines;
        # disable=None hides the bar when stderr is not a terminal (logs, tests).
        return tqdm(iterable, desc=desc, unit=unit, file=sys.stderr, disable=None if not self.quiet else True)

    def _demo(self, admin) -> None:
        if demo.build_demo_city(actor=admin, progress=self._progress):
            self.stdout.write(self.style.SUCCESS(f"Built the demo city {demo.CITY_CODE} 呼和浩特市 / 新城区."))
        else:
            self.stdout.write(f"The demo city {demo.CITY_CODE} exists; structure left as it is.")
        accounts = demo.ensure_demo_accounts(actor=admin)
        self.stdout.write(f"{accounts} demo accounts ready, password {demo.DEMO_PASSWORD!r}.")
        visits = demo.ensure_demo_visits(progress=self._progress)
        if visits:
            self.stdout.write(f"Recorded {visits} past patrol visits in Xinghuo Lane.")
        if demo.ensure_demo_duplicate():
            self.stdout.write("worker2 registered an ID number held in Xinghuo Lane: a duplicate for district.")
        # Demo data of the apps above grid (registered with demo.register_seeder).
        for message in demo.run_seeders(actor=admin):
            self.stdout.write(message)

    def _synthetic(self, admin, grids: int, per_grid: int, replace: bool) -> None:
        message = demo.build_synthetic_city(
            actor=admin, grids=grids, households_per_grid=per_grid, replace=replace, progress=self._progress
        )
        self.stdout.write(self.style.SUCCESS(message))
        demo.ensure_bench_accounts(actor=admin)
        self.stdout.write(f"Bench accounts bench_street and bench_district ready, password {demo.DEMO_PASSWORD!r}.")

    def _summary(self) -> None:
        self.stdout.write("  ".join(f"{name}: {count}" for name, count in demo.counts().items()))
