"""GeoJSON boundaries: validation, bounding boxes and point-in-polygon tests (shapely)."""

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from shapely.affinity import affine_transform
from shapely.geometry import Point, shape
from shapely.prepared import prep
from shapely.validation import explain_validity

from civic.inputs import validate_json_input

__all__ = [
    "EARTH_RADIUS_M", "METRES_PER_DEGREE", "Around", "bbox_of", "contains", "distance_m", "distance_to_area_m",
    "rectangle", "validate_boundary",
]

_KINDS = ("Polygon", "MultiPolygon")
EARTH_RADIUS_M = 6_371_000
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180


def validate_boundary(value) -> None:
    if not isinstance(value, dict) or value.get("type") not in _KINDS:
        raise ValidationError(_("A boundary is a GeoJSON Polygon or MultiPolygon."), code="invalid_boundary")
    # Before shapely: members it ignores are stored too, and jsonb refuses a NUL anywhere.
    validate_json_input(value)
    try:
        geometry = shape(value)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ValidationError(
            _("Malformed GeoJSON: %(reason)s"), params={"reason": exc}, code="invalid_boundary"
        ) from exc
    if geometry.is_empty or not geometry.is_valid:
        raise ValidationError(
            _("Invalid polygon: %(reason)s"), params={"reason": explain_validity(geometry)}, code="invalid_boundary"
        )
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValidationError(_("Coordinates must be [longitude, latitude] in degrees."), code="invalid_boundary")


def bbox_of(boundary: dict) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat)"""
    return shape(boundary).bounds


@lru_cache(maxsize=4096)
def _prepared(boundary_key: str):
    return prep(shape(json.loads(boundary_key)))


def contains(boundary: dict, lat: float, lon: float) -> bool:
    """Point-in-polygon, boundary included. Prepared shapes are cached: locate() hits the same grids often."""
    return _prepared(json.dumps(boundary, sort_keys=True)).intersects(Point(lon, lat))


def distance_to_area_m(boundary: dict, lat: float | Decimal, lon: float | Decimal) -> float:
    """Metres from the point to the nearest edge of the area (0 inside or on it).

    Measured on a plane tangent at the point (longitudes scaled by cos(lat)): for the tens of metres
    of a GPS error the difference from the great-circle distance is far below a metre.
    """
    lat, lon = float(lat), float(lon)
    prepared = _prepared(json.dumps(boundary, sort_keys=True))
    if prepared.intersects(Point(lon, lat)):
        return 0.0
    x_scale = METRES_PER_DEGREE * math.cos(math.radians(lat))
    local = affine_transform(
        prepared.context, [x_scale, 0, 0, METRES_PER_DEGREE, -x_scale * lon, -METRES_PER_DEGREE * lat]
    )
    return local.distance(Point(0, 0))


def rectangle(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> dict:
    """A GeoJSON Polygon for an axis-aligned box (demo and test grids are tiled boxes)."""
    ring = [[min_lon, min_lat], [max_lon, min_lat], [max_lon, max_lat], [min_lon, max_lat], [min_lon, min_lat]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Around:
    """A radius around a point, in the degrees a query compares: the half-sides of the box around it, and
    how much a degree of longitude shrinks at this latitude (for an equirectangular distance, exact enough
    over a few kilometres and plain arithmetic in any database)."""

    lat: float
    lon: float
    radius_m: float

    @property
    def half_lat(self) -> float:
        return self.radius_m / METRES_PER_DEGREE

    @property
    def lon_scale(self) -> float:
        # Clamped so that a pole stays finite.
        return max(math.cos(math.radians(self.lat)), 1e-6)

    @property
    def half_lon(self) -> float:
        return min(self.half_lat / self.lon_scale, 180.0)
