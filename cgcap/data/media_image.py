"""Images (jpeg, png, webp) through PIL: size checked from the header before decoding."""

from __future__ import annotations

import io
import warnings

from cgcap.config import LimitSettings
from cgcap.data.media import CorruptMedia, DecodedMedia, MediaTooLarge, UnsupportedMediaType

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def check_pixels(width: int, height: int, limits: LimitSettings, name: str) -> None:
    if width * height > limits.max_image_pixels:
        raise MediaTooLarge(
            f"{name} is {width}x{height} = {width * height:,} pixels; the limit is {limits.max_image_pixels:,}"
        )


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
    try:
        image.load()
        # Phones store the sensor's orientation in EXIF; captions must see the upright photo.
        image = to_rgb(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptMedia(f"{name} is corrupt or truncated: {error}") from None
    return DecodedMedia("image", fmt, image=image, filename=filename)
