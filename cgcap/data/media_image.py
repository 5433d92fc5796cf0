"""Images (jpeg, png, webp) through PIL: size checked from the header before decoding.

A JPEG or PNG cut short (a download that lost its last bytes) is decoded as far as its
data goes, like a short WAV or MP3: captioned with a warning when at most the shared
fraction of its pixel rows is missing, refused as truncated otherwise.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np

from cgcap.config import LimitSettings
from cgcap.data.media_types import (
    CorruptMedia,
    DecodedMedia,
    MediaTooLarge,
    UnsupportedMediaType,
    check_complete,
    check_pixels,
)

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
# Formats whose decoders fill what a cut file lacks with one flat value (JPEG grey, PNG zeros).
CUT_TOLERANT = {"jpeg", "png"}
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk with its CRC: the last 12 bytes of every whole PNG
# PIL's switch for decoding cut files is one process-wide flag; Serve replicas decode in threads,
# so every load here holds this lock, and a strict load never sees another's lenient setting.
_PIL_LOAD = threading.Lock()


def to_rgb(image):
    """RGB with transparency flattened onto white (what a viewer shows), grey expanded."""
    from PIL import Image

    if image.mode.startswith("I"):
        # 16-bit greyscale PNG ("I;16", or "I" holding 0..65535): PIL's convert clips every value
        # above 255 to white, so scale to 8 bits first.
        import numpy as np

        wide = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes, fmt: str, limits: LimitSettings, filename: str | None) -> DecodedMedia:
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = repr(filename) if filename else f"the {fmt} upload"
    try:
        # Opening reads only the header; the pixel check below runs before any decoding,
        # so a decompression bomb is refused without allocating its pixels. That check
        # replaces PIL's own warning, which would fire at its fixed threshold.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]])
    except Image.DecompressionBombError as error:
        # PIL refuses past twice its own threshold while reading the header.
        raise MediaTooLarge(f"{name} has too many pixels ({error}); the limit is {limits.max_image_pixels:,}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorruptMedia(f"{name} is not a readable {fmt} image: {error}") from None
    if image.format != PIL_FORMATS[fmt]:
        raise UnsupportedMediaType(f"{name} is a {image.format} image; supported images are jpeg, png and webp")
    check_pixels(image.width, image.height, limits, name)
    found: list[str] = []
    try:
        try:
            _load(image, cut_ok=False)
        except OSError as error:
            if fmt not in CUT_TOLERANT or "truncated" not in str(error).lower():
                raise
            image = Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]])  # a failed load leaves no usable image
            _load(image, cut_ok=True)
            found.append(_cut_warning(image, fmt, name))
        if fmt == "png" and not found and not data.endswith(PNG_END):
            # PIL decodes every row without the closing IEND chunk and says nothing; the file is still cut.
            found.append("truncated: the png file ends without its IEND chunk; every pixel row decoded")
        # Phones store the sensor's orientation in EXIF; captions must see the upright photo.
        image = to_rgb(ImageOps.exif_transpose(image))
    except CorruptMedia:  # the cut's own refusal, already naming the file
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptMedia(f"{name} is corrupt or truncated: {error}") from None
    return DecodedMedia("image", fmt, image=image, filename=filename, warnings=found)


def _load(image, cut_ok: bool) -> None:
    """Decode the pixels; ``cut_ok`` lets PIL stop where the data ends (scoped to this one load)."""
    from PIL import ImageFile

    with _PIL_LOAD:
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = cut_ok
        try:
            image.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def undecoded_rows(image) -> int:
    """Pixel rows at the bottom that hold only the decoder's fill (one flat value), i.e. that no data reached.

    A baseline JPEG or a PNG decodes top to bottom, so a cut loses the last rows. A progressive
    JPEG sends a coarse whole picture first and detail in later scans: a cut in the first scan
    loses rows like a baseline one, a later cut only detail, and its rows count as decoded.
    """
    pixels = np.asarray(image)
    rows = pixels.reshape(pixels.shape[0], -1, pixels.shape[-1] if pixels.ndim == 3 else 1)
    fill = rows[-1, 0]
    count = 0
    while count < len(rows) and (rows[len(rows) - 1 - count] == fill).all():
        count += 1
    return count


def _cut_warning(image, fmt: str, name: str) -> str:
    """The warning for a cut image, or ``CorruptMedia`` when more of its rows are missing than any format may lack."""
    height = image.height
    decoded = height - undecoded_rows(image)
    what = f"the {fmt} file ends early; {decoded} of its {height} pixel rows decoded"
    if image.info.get("progressive"):
        what += " (progressive: they may lack detail)"
    return check_complete(decoded, height, name, what, tolerance=0) or f"truncated: {what}; captioned it"
