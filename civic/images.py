"""Case photos: check that an upload is a real photo and store clean copies of it.

Grid workers photograph problems with their phones, and a phone photo carries the phone's EXIF: GPS
coordinates (often of the worker's home when reused), the device, its serial number, the time. A
case photo is shown to other staff and may be published, so nothing of the upload's metadata is
kept: every stored file is re-encoded from the decoded pixels, with only the colour profile carried
over. The upload is checked before it is trusted:

- ``too_large``: more than ``settings.PHOTO_MAX_BYTES`` (10 MiB), judged from ``upload.size`` before
  reading, and by reading at most one byte more than the limit whatever the size claims;
- ``not_an_image``: Pillow cannot identify it, ``verify()`` fails or the pixels cannot be decoded
  (a truncated file);
- ``unsupported_format``: anything but JPEG, PNG and WebP (GIF, BMP, TIFF, ...);
- ``too_many_pixels``: more than ``settings.PHOTO_MAX_PIXELS`` (40 megapixels) according to the header,
  checked before decoding: a decompression bomb is a small file that would decode into gigabytes.

``process_photo`` returns the full-size original (in its own format, turned upright according to its
EXIF orientation), a display copy within ``settings.PHOTO_DISPLAY_SIZE`` (1280 px on the long side)
and optionally a thumbnail; display copies are JPEG (transparency flattened on white) or WebP.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_DISPLAY_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "THUMBNAIL_SIZE",
    "ProcessedPhoto",
    "process_photo",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_DISPLAY_SIZE = 1280
THUMBNAIL_SIZE = 320

ORIGINAL_QUALITY = 92  # the original is re-encoded once: keep the loss invisible
DISPLAY_QUALITY = 85

# Pillow's format name -> (stored format, content type, file extension). Many phones write their
# JPEGs as MPO (a JPEG followed by a depth or preview frame); Pillow calls those "MPO".
_FORMATS = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "MPO": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
}
_CONTENT_TYPES = {fmt: (content_type, ext) for fmt, content_type, ext in _FORMATS.values()}

# What a damaged file makes Pillow raise while verifying or decoding (it has no common base class).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)

MESSAGES = {
    "too_large": _("The photo is too large (%(size)s); at most %(limit)s is allowed."),
    # Django's own ImageField message: its translations come with Django.
    "not_an_image": _(
        "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
    ),
    "unsupported_format": _("Photos in the %(format)s format are not accepted; upload a JPEG, PNG or WebP photo."),
    "too_many_pixels": _("The photo has too many pixels; at most %(limit)s megapixels are allowed."),
}


@dataclass(frozen=True)
class ProcessedPhoto:
    """The stored copies of one photo; every file is re-encoded and carries no EXIF, XMP or comment."""

    original: ContentFile
    display: ContentFile
    thumbnail: ContentFile | None
    content_type: str  # of the original
    display_content_type: str  # of the display copy and the thumbnail
    width: int  # of the original, upright
    height: int
    format: str  # of the original: "JPEG", "PNG" or "WEBP"


def _error(code: str, **params) -> ValidationError:
    return ValidationError(MESSAGES[code], code=code, params=params or None)


def _too_many_pixels(limit: int) -> ValidationError:
    return _error("too_many_pixels", limit=f"{limit / 1_000_000:g}")


def _read_limited(upload, max_bytes: int) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise _error("too_large", size=filesizeformat(size), limit=filesizeformat(max_bytes))
    if hasattr(upload, "seek"):
        upload.seek(0)
    # A file-like object's size may be missing or wrong: never read more than one byte past the limit.
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _error("too_large", size=_("more than %(limit)s") % {"limit": filesizeformat(max_bytes)},
                     limit=filesizeformat(max_bytes))
    return data


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Identify, check format and pixel count from the header, verify, then decode."""
    with warnings.catch_warnings():
        # Locally only: Pillow warns (instead of failing) between MAX_IMAGE_PIXELS and twice that.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(max_pixels) from exc
        except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
            raise _error("not_an_image") from exc
        if probe.format not in _FORMATS:
            raise _error("unsupported_format", format=probe.format)
        width, height = probe.size
        if width * height > max_pixels:  # from the header: nothing has been decoded yet
            raise _too_many_pixels(max_pixels)
        try:
            # verify() checks the structure (chunk CRCs for PNG) but leaves the image unusable.
            probe.verify()
            image = Image.open(BytesIO(data))
            image.load()  # a truncated file fails here (LOAD_TRUNCATED_IMAGES is off)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(max_pixels) from exc
        except _DECODE_ERRORS as exc:
            raise _error("not_an_image") from exc
    return image


def _normalise_mode(image: Image.Image, fmt: str) -> Image.Image:
    """A mode the stored format keeps faithfully: transparency stays (PNG, WebP), palettes are expanded."""
    transparent = image.has_transparency_data
    if fmt == "JPEG":
        return image if image.mode in ("L", "RGB") else image.convert("RGB")
    if transparent:
        return image if image.mode in ("RGBA", "LA") and fmt == "PNG" else image.convert("RGBA")
    if fmt == "PNG" and image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L") if fmt == "PNG" else image.convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB(A)/LA on a white background, for JPEG which has no alpha channel."""
    if image.mode not in ("RGBA", "LA"):
        return image if image.mode in ("L", "RGB") else image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _encode(image: Image.Image, fmt: str, name: str, icc_profile: bytes | None, quality: int) -> ContentFile:
    # Pillow's encoders fall back on image.info for a JPEG comment, a PNG's tEXt/iTXt via transparency
    # and ICC, and converted or resized copies inherit info (EXIF included): start from nothing.
    image.info = {}
    params: dict = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    if fmt == "JPEG":
        params.update(quality=quality, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    elif fmt == "PNG":
        params.update(optimize=True)
    buffer = BytesIO()
    image.save(buffer, format=fmt, **params)
    return ContentFile(buffer.getvalue(), name=f"{name}.{_CONTENT_TYPES[fmt][1]}")


def _same_colour_space(before: str, after: str) -> bool:
    # An ICC profile describes the source's colour space: a CMYK profile on RGB pixels would be wrong.
    def family(mode: str) -> str:
        return {"1": "L", "L": "L", "LA": "L", "P": "RGB", "PA": "RGB", "RGBA": "RGB"}.get(mode, mode)

    return family(before) == family(after)


def process_photo(upload, *, thumbnail_size: int | None = THUMBNAIL_SIZE) -> ProcessedPhoto:
    """Check ``upload`` (an UploadedFile or a file-like object) and return its clean, re-encoded copies.

    Raises ``ValidationError`` with code ``too_large``, ``not_an_image``, ``unsupported_format`` or
    ``too_many_pixels``. Only the first frame of an animated PNG or WebP is kept. ``thumbnail_size``
    None skips the thumbnail.
    """
    max_bytes = getattr(settings, "PHOTO_MAX_BYTES", DEFAULT_MAX_BYTES)
    max_pixels = getattr(settings, "PHOTO_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    display_size = getattr(settings, "PHOTO_DISPLAY_SIZE", DEFAULT_DISPLAY_SIZE)

    data = _read_limited(upload, max_bytes)
    decoded = _open_checked(data, max_pixels)
    fmt, content_type, _ext = _FORMATS[decoded.format]
    source_mode = decoded.mode
    icc_profile = decoded.info.get("icc_profile")

    # Turn the pixels upright first: the orientation tag is about to be dropped with the rest of EXIF.
    try:
        upright = ImageOps.exif_transpose(decoded)
    except _DECODE_ERRORS:
        upright = decoded  # unreadable EXIF: keep the pixels as stored rather than refuse the photo
    original = _normalise_mode(upright, fmt)
    original_icc = icc_profile if _same_colour_space(source_mode, original.mode) else None

    display_fmt = "WEBP" if fmt == "WEBP" else "JPEG"
    display = original.copy()
    display.thumbnail((display_size, display_size), Image.Resampling.LANCZOS)
    if display_fmt == "JPEG":
        display = _flatten(display)
    display_icc = icc_profile if _same_colour_space(source_mode, display.mode) else None

    thumb_file = None
    if thumbnail_size:
        thumb = display.copy()
        thumb.thumbnail((thumbnail_size, thumbnail_size), Image.Resampling.LANCZOS)
        thumb_file = _encode(thumb, display_fmt, "thumbnail", display_icc, DISPLAY_QUALITY)

    return ProcessedPhoto(
        original=_encode(original, fmt, "original", original_icc, ORIGINAL_QUALITY),
        display=_encode(display, display_fmt, "display", display_icc, DISPLAY_QUALITY),
        thumbnail=thumb_file,
        content_type=content_type,
        display_content_type=_CONTENT_TYPES[display_fmt][0],
        width=original.width,
        height=original.height,
        format=fmt,
    )
