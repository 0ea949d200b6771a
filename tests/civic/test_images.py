"""civic.images: uploads are checked to be real, reasonable photos and stored without metadata.

Every image is built in memory with Pillow; nothing needs the database.
"""

import struct
import time
import warnings
import zlib
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import ExifTags, Image, ImageCms, ImageFile

from civic.images import ProcessedPhoto, process_photo

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def payload(stored) -> bytes:
    stored.seek(0)
    return stored.read()


def reopen(stored) -> Image.Image:
    image = Image.open(BytesIO(payload(stored)))
    image.load()
    return image


def stored_files(photo: ProcessedPhoto) -> list:
    return [photo.original, photo.display, photo.thumbnail]


def phone_exif(orientation: int = 1) -> Image.Exif:
    """What a phone writes: maker, model, time, orientation, and where the photo was taken (Hohhot)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Grid Phone 3"
    exif[ExifTags.Base.DateTime] = "2025:10:09 08:30:00"
    exif[ORIENTATION] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (40.0, 51.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (111.0, 40.0, 0.0)
    return exif


def photo(size=(640, 480), mode="RGB", color=(40, 120, 200)) -> Image.Image:
    return Image.new(mode, size, color)


def noisy(size=(400, 300)) -> Image.Image:
    # Noise does not compress: a truncated file then really misses pixel data.
    return Image.frombytes("RGB", size, bytes((i * 7919) % 251 for i in range(size[0] * size[1] * 3)))


def assert_clean(data: bytes) -> None:
    image = Image.open(BytesIO(data))
    assert len(image.getexif()) == 0
    assert b"Exif" not in data
    assert b"PhoneMaker" not in data
    assert b"secret" not in data
    assert not {"exif", "xmp", "comment", "XML:com.adobe.xmp"} & set(image.info)


def rejection(data_or_upload, **kwargs) -> ValidationError:
    target = upload(data_or_upload) if isinstance(data_or_upload, bytes) else data_or_upload
    with pytest.raises(ValidationError) as caught:
        process_photo(target, **kwargs)
    return caught.value


# --- Metadata ---------------------------------------------------------------------------------


def test_jpeg_with_gps_is_stored_without_any_exif():
    data = encode(photo(), "JPEG", exif=phone_exif(), comment=b"secret")
    source = Image.open(BytesIO(data))
    assert source.getexif().get_ifd(GPS_IFD)[ExifTags.GPS.GPSLatitudeRef] == "N"  # the test file carries GPS

    result = process_photo(upload(data))

    assert (result.format, result.content_type, result.display_content_type) == ("JPEG", "image/jpeg", "image/jpeg")
    assert (result.width, result.height) == (640, 480)
    for stored in stored_files(result):
        data_out = payload(stored)
        assert_clean(data_out)
        assert Image.open(BytesIO(data_out)).format == "JPEG"
    assert result.original.name == "original.jpg"
    assert result.display.name == "display.jpg"
    assert result.thumbnail.name == "thumbnail.jpg"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_metadata_is_stripped_too(fmt):
    data = encode(photo(), fmt, exif=phone_exif(), xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    assert b"PhoneMaker" in data

    result = process_photo(upload(data, f"photo.{fmt.lower()}", f"image/{fmt.lower()}"))

    assert result.format == fmt
    for stored in stored_files(result):
        assert_clean(payload(stored))


def test_the_colour_profile_is_kept():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    result = process_photo(upload(encode(photo(), "JPEG", icc_profile=srgb, exif=phone_exif())))
    for stored in stored_files(result):
        assert reopen(stored).info.get("icc_profile") == srgb


def test_cmyk_jpeg_becomes_rgb_without_its_cmyk_profile():
    result = process_photo(upload(encode(photo(mode="CMYK", color=(0, 80, 160, 0)), "JPEG")))
    assert reopen(result.original).mode == "RGB"
    assert reopen(result.display).mode == "RGB"


# --- Orientation and sizes --------------------------------------------------------------------


def test_exif_orientation_is_applied_before_it_is_dropped():
    # Left half red, right half blue; orientation 6 means "turn 90 degrees clockwise to view".
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 200, 200))
    result = process_photo(upload(encode(image, "JPEG", exif=phone_exif(orientation=6))))

    assert (result.width, result.height) == (200, 400)
    upright = reopen(result.original)
    assert upright.size == (200, 400)
    assert len(upright.getexif()) == 0  # no orientation tag left to turn it a second time
    red, _, blue = upright.getpixel((100, 100))
    assert red > 200 and blue < 60  # the red half is now on top
    red, _, blue = upright.getpixel((100, 300))
    assert blue > 200 and red < 60
    assert reopen(result.display).size == (200, 400)


def test_display_and_thumbnail_fit_their_boxes():
    result = process_photo(upload(encode(photo((3000, 2000)), "JPEG")))
    assert (result.width, result.height) == (3000, 2000)
    assert reopen(result.original).size == (3000, 2000)
    assert reopen(result.display).size == (1280, 853)
    assert reopen(result.thumbnail).size == (320, 213)


def test_display_size_comes_from_settings_and_small_photos_are_not_enlarged(settings):
    settings.PHOTO_DISPLAY_SIZE = 600
    tall = process_photo(upload(encode(photo((1000, 2000)), "JPEG")))
    assert reopen(tall.display).size == (300, 600)

    small = process_photo(upload(encode(photo((200, 100)), "JPEG")))
    assert reopen(small.display).size == (200, 100)
    assert reopen(small.thumbnail).size == (200, 100)


def test_thumbnail_is_optional():
    assert process_photo(upload(encode(photo(), "JPEG")), thumbnail_size=None).thumbnail is None


# --- Formats and transparency -----------------------------------------------------------------


def test_transparent_png_stays_png_and_is_flattened_on_white_for_display():
    image = Image.new("RGBA", (300, 200), (200, 30, 30, 255))
    image.paste((0, 0, 0, 0), (150, 0, 300, 200))  # the right half is transparent
    result = process_photo(upload(encode(image, "PNG"), "photo.png", "image/png"))

    assert (result.format, result.content_type, result.display_content_type) == ("PNG", "image/png", "image/jpeg")
    original = reopen(result.original)
    assert original.format == "PNG" and original.mode == "RGBA"
    assert original.getpixel((250, 100))[3] == 0
    assert original.getpixel((50, 100)) == (200, 30, 30, 255)
    display = reopen(result.display)
    assert display.format == "JPEG" and display.mode == "RGB"
    assert min(display.getpixel((250, 100))) > 245  # white where it was transparent
    assert result.original.name == "original.png" and result.display.name == "display.jpg"


def test_palette_png_with_transparency_keeps_it():
    image = Image.new("P", (100, 100), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 50, 100))
    data = encode(image, "PNG", transparency=0)
    original = reopen(process_photo(upload(data, "p.png", "image/png")).original)
    assert original.mode == "RGBA"
    assert original.getpixel((10, 10))[3] == 0
    assert original.getpixel((90, 10)) == (255, 0, 0, 255)


def test_webp_stays_webp():
    image = Image.new("RGBA", (300, 200), (10, 200, 10, 128))
    result = process_photo(upload(encode(image, "WEBP"), "photo.webp", "image/webp"))
    assert (result.format, result.content_type, result.display_content_type) == ("WEBP", "image/webp", "image/webp")
    assert reopen(result.original).format == "WEBP"
    assert reopen(result.display).format == "WEBP"
    assert result.display.name == "display.webp"


def test_grayscale_jpeg_stays_grayscale():
    result = process_photo(upload(encode(photo(mode="L", color=90), "JPEG")))
    assert reopen(result.original).mode == "L"
    assert reopen(result.display).mode == "L"


def test_a_phone_mpo_jpeg_is_accepted_as_jpeg():
    # Many phones save a JPEG followed by a second frame (depth map, preview): Pillow says "MPO".
    data = encode(photo(), "MPO", save_all=True, append_images=[photo(color=(0, 0, 0))], exif=phone_exif())
    assert Image.open(BytesIO(data)).format == "MPO"
    result = process_photo(upload(data))
    assert result.format == "JPEG"
    original = payload(result.original)
    assert_clean(original)
    assert Image.open(BytesIO(original)).format == "JPEG"


# --- Rejections -------------------------------------------------------------------------------


def test_a_text_file_is_not_an_image():
    error = rejection(upload(b"rubbish piled up in front of the estate\n" * 20, "note.jpg"))
    assert error.code == "not_an_image"
    # Django's ImageField message, so Django's own catalogues translate it.
    with translation.override("en"):
        assert "not an image" in error.messages[0]
    with translation.override("zh-hans"):
        assert "不是图片" in error.messages[0]


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_unsupported(fmt):
    error = rejection(encode(photo(), fmt))
    assert error.code == "unsupported_format"
    assert fmt in error.messages[0]


def test_a_truncated_jpeg_is_not_an_image():
    data = encode(noisy(), "JPEG", quality=95)
    assert rejection(data[: len(data) // 2]).code == "not_an_image"


def test_a_truncated_or_corrupted_png_is_not_an_image():
    data = encode(noisy(), "PNG")
    assert rejection(data[: len(data) // 2]).code == "not_an_image"
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF  # the IDAT checksum no longer matches
    assert rejection(bytes(corrupted)).code == "not_an_image"


def test_an_empty_file_is_not_an_image():
    assert rejection(upload(b"")).code == "not_an_image"


def test_too_large_by_its_declared_size_before_reading(settings):
    settings.PHOTO_MAX_BYTES = 1000

    class Unreadable:
        size = 1001

        def read(self, *args):
            raise AssertionError("an upload over the limit must not be read")

    error = rejection(Unreadable())
    assert error.code == "too_large"
    assert "1001" in error.messages[0] or "1000" in error.messages[0]


def test_too_large_even_when_the_declared_size_lies(settings):
    settings.PHOTO_MAX_BYTES = 1000
    reads = []

    class Lying(BytesIO):
        size = 10

        def read(self, n=-1):
            reads.append(n)
            return super().read(n)

    assert rejection(Lying(encode(noisy(), "PNG"))).code == "too_large"
    assert reads == [1001]  # never more than one byte past the limit


def test_the_byte_limit_is_ten_mebibytes_by_default():
    big = upload(b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 - 1))
    assert rejection(big).code == "too_large"


def bilevel_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of the given size: all white, so it compresses to almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * ((width + 7) // 8)  # filter byte, then the packed pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if Pillow starts decoding pixels."""

    def refuse(self):
        raise AssertionError("a decompression bomb must be rejected from its header, before decoding")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8000, 6000),  # 48 MP: over our 40 MP limit, under Pillow's own warning threshold
        (20000, 20000),  # 400 MP: Pillow itself refuses it at open
    ],
)
def test_decompression_bombs_are_rejected_from_the_header(no_decoding, width, height):
    data = bilevel_png(width, height)
    assert len(data) < 100_000  # a small file ...
    started = time.perf_counter()
    error = rejection(upload(data, "bomb.png", "image/png"))
    assert error.code == "too_many_pixels"  # ... that would decode into hundreds of megabytes
    assert "40" in error.messages[0]
    assert time.perf_counter() - started < 1


def test_pixel_limit_comes_from_settings(settings):
    settings.PHOTO_MAX_PIXELS = 100 * 100
    assert rejection(encode(photo((101, 100)), "JPEG")).code == "too_many_pixels"
    assert process_photo(upload(encode(photo((100, 100)), "JPEG"))).width == 100


def test_pillow_bomb_warning_is_an_error_here_only(settings, monkeypatch):
    settings.PHOTO_MAX_PIXELS = 10**9
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50 * 50)  # Pillow warns above this
    filters_before = list(warnings.filters)

    assert rejection(encode(photo((60, 60)), "PNG")).code == "too_many_pixels"

    assert warnings.filters == filters_before
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(BytesIO(encode(photo((60, 60)), "PNG")))
