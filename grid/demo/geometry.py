"""Geometry of the demo cities: every node is a box, tiled into its children's boxes."""

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from grid.geo import rectangle

__all__ = ["Box", "split"]


def _edges(low: float, high: float, parts: int) -> list[float]:
    # The last edge is `high` itself, so children cover their parent exactly despite float error.
    return [round(low + (high - low) * i / parts, 6) for i in range(parts)] + [high]


def split(total: int, parts: int) -> list[int]:
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
        for row, cols in enumerate(split(n, rows)):
            lon_edges = _edges(self.min_lon, self.max_lon, cols)
            boxes += [Box(lon_edges[c], lat_edges[row], lon_edges[c + 1], lat_edges[row + 1]) for c in range(cols)]
        return boxes
