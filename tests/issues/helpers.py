"""Helpers shared by the case tests: points inside grids, small real (and fake) photo uploads, the
row counts a failed call must leave alone, and drivers that move a case through the real services."""

import struct
import zlib
from io import BytesIO
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from civic.models import Notice
from issues import services
from issues.models import Case, CaseEvent, CasePhoto, CaseSequence

#
# Places
#


def point_in(node) -> tuple[float, float]:
    """(lat, lon) of the middle of a node's (rectangular) boundary."""
    return (node.min_lat + node.max_lat) / 2, (node.min_lon + node.max_lon) / 2


# Inside the district's box (longitudes 111.60-111.80) but east of every grid (111.60-111.70).
OUTSIDE_EVERY_GRID = (40.85, 111.75)

#
# Uploads
#


def _encoded(fmt: str, size, color) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg_upload(name: str = "before.jpg", size=(64, 48), color=(200, 80, 40)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _encoded("JPEG", size, color), content_type="image/jpeg")


def png_upload(name: str = "after.png", size=(48, 64), color=(40, 160, 80)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _encoded("PNG", size, color), content_type="image/png")


def text_upload(name: str = "photo.jpg") -> SimpleUploadedFile:
    """A file that claims to be a JPEG but is not an image."""
    return SimpleUploadedFile(name, b"this is not a photo at all\n" * 20, content_type="image/jpeg")


def bomb_upload(width: int = 20000, height: int = 20000) -> SimpleUploadedFile:
    """A valid 1-bit PNG of 400 megapixels that weighs a few dozen kilobytes: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * ((width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return SimpleUploadedFile("bomb.png", data, content_type="image/png")


#
# What a refused call must leave alone
#


def row_counts() -> dict[str, int]:
    return {
        "cases": Case.objects.count(),
        "events": CaseEvent.objects.count(),
        "photos": CasePhoto.objects.count(),
        "notices": Notice.objects.count(),
        "sequence": sum(CaseSequence.objects.values_list("last", flat=True)),
    }


def files_under(root) -> list[Path]:
    root = Path(root)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


#
# Driving cases through the services
#


def report(city, category, *, actor=None, grid: str = "A1g1", description: str = "小区门口垃圾堆积", **kwargs) -> Case:
    lat, lon = point_in(city.nodes[grid])
    return services.case_report(
        actor=actor or city.users["worker"], category=category, description=description, lat=lat, lon=lon, **kwargs
    )


def act(case: Case, actor, name: str, **kwargs) -> Case:
    """One transition at the case's current version (re-read, as a client would)."""
    case.refresh_from_db()
    return services.case_transition(actor=actor, case=case, name=name, version=case.version, **kwargs)


def drive(case: Case, actor, *steps) -> Case:
    """Several transitions in a row: each step is a name or (name, kwargs)."""
    for step in steps:
        name, kwargs = (step, {}) if isinstance(step, str) else step
        case = act(case, actor, name, **kwargs)
    return case


def snapshot(case: Case) -> dict:
    """What a refused transition must not change."""
    case = Case.objects.get(pk=case.pk)
    return {
        "status": case.status, "version": case.version, "handling_level": case.handling_level,
        "handling_node": case.handling_node_id, "handling_department": case.handling_department_id,
        "dispatched_from_level": case.dispatched_from_level, "due_at": case.due_at, "assignee": case.assignee_id,
        "duplicate_of": case.duplicate_of_id, "escalation_count": case.escalation_count,
        "resolved_at": case.resolved_at, "closed_at": case.closed_at, "events": case.events.count(),
        **{f"all_{key}": value for key, value in row_counts().items()},
    }
