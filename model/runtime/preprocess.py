"""Turning a drawing, a photo or an upload into an MNIST-like 28x28 input (numpy, Pillow and scipy.ndimage).

MNIST digits were scaled, keeping their aspect ratio, so that the longer side of the
ink fits a 20x20 box, then placed in 28x28 with their centre of mass at pixel (14, 14).
`preprocess_digit` repeats that recipe on any image, so drawn digits look like the
ones the network learned from.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

# Size of the box the ink is scaled into, and of the final image.
BOX = 20
SIZE = 28
# Where MNIST puts the centre of mass, in pixel indices (measured on the test set: 14.0, 14.0).
CENTRE = 14.0
# A pixel is ink when it is this far from the background, on a 0-1 scale.
INK_LEVEL = 0.2
# Fewer ink pixels than this fraction of the image (and than MIN_INK_PIXELS) is an empty canvas.
MIN_INK_FRACTION = 0.0005
MIN_INK_PIXELS = 4
# A digit's largest connected stroke must span at least this fraction of the image's longer
# side: a dot or two specks are too little ink to be a digit (every blob is enlarged to 20 px).
MIN_DIGIT_FRACTION = 0.15
# An upload is decoded only if Pillow would hold at most this many bytes for it (checked from
# its header; a JPEG after decoding at 1/2, 1/4 or 1/8 scale, so any phone photo fits): 11
# megapixels in colour (Pillow keeps 4 bytes a pixel), 5.5 with transparency, 44 in grey; an
# A4 page scanned at 300 dpi in colour. One upload then stays under 50 MB (measured in
# tests/model/runtime/test_preprocess.py).
MAX_DECODED_BYTES = 44 * 2**20
# A PNG past that (Pillow cannot decode one reduced) is read a few rows at a time by libvips
# and shrunk on the way, up to this many pixels: a 50-megapixel scan in colour takes about
# 35 MB beside its file (tests/model/runtime/test_preprocess.py).
MAX_STREAMED_PIXELS = 50_000_000
# Bytes a pixel takes in Pillow's memory, by mode ("RGB" is stored in 4 bytes, as "RGBA").
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
# Decoded uploads are reduced (in whole-pixel steps, as uint8) until their longer side is at
# most this many pixels, before any conversion to floats.
WORKING_SIDE = 512
# The largest array accepted for preprocessing, on each side.
MAX_SIDE = 4096


class TooLittleInk(ValueError):
    """Some ink, but too little or too small for a digit."""


def from_uint8(images: np.ndarray) -> np.ndarray:
    """MNIST pixels (uint8, 0-255) as the network's float32 inputs in [0, 1], same shape."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"Expected uint8 pixels, got {images.dtype}.")
    return images.astype(np.float32) / 255.0


@dataclass(frozen=True)
class PreprocessResult:
    # The network's input: (28, 28) float32 in [0, 1], ink bright on black.
    model_input: np.ndarray
    # Intermediate images for display: "input", "cropped", "scaled", "centred".
    steps: dict[str, np.ndarray] = field(repr=False)
    # True when the image had dark ink on a light background.
    inverted: bool = False


def to_ink(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """Any grayscale, RGB or RGBA image -> (ink intensity in [0, 1] on a zero background, inverted).

    Transparent pixels of an RGBA image are background and opacity is ink (the canvas).
    Otherwise the background is the median of the border, and ink is whatever differs
    from it, light on dark or dark on light.
    """
    array = _validate(image)
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3]
        if alpha.max() - alpha.min() > 1e-6:
            return np.clip(alpha, 0.0, 1.0).astype(np.float32), False
        array = array[..., :3]
    gray = array @ np.array([0.299, 0.587, 0.114], np.float32) if array.ndim == 3 else array
    gray = np.clip(gray, 0.0, 1.0)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    inverted = background > 0.5
    if inverted:
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip((gray - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    return ink.astype(np.float32), inverted


def _validate(image) -> np.ndarray:
    """Checks the array and scales it to float32 in [0, 1]; raises ValueError with the reason."""
    try:
        array = np.asarray(image)
    except Exception as error:  # Ragged nested sequences and other oddities.
        raise ValueError(f"Not an image array: {error}") from error
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"An image must hold numbers, not {array.dtype}.")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"An image must be HxW, HxWx3 or HxWx4; got shape {array.shape}.")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"The image is empty (shape {array.shape}).")
    if max(array.shape[:2]) > MAX_SIDE:
        raise ValueError(f"The image is too large ({array.shape[1]}x{array.shape[0]}); at most {MAX_SIDE} a side.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if np.issubdtype(array.dtype, np.integer):
        top = 255.0 if array.dtype.itemsize == 1 or int(array.max(initial=0)) <= 255 else 65535.0
        if int(array.min(initial=0)) < 0:
            raise ValueError("Integer pixel values must not be negative.")
        return array.astype(np.float32) / top
    if not np.all(np.isfinite(array)):
        raise ValueError("The image holds NaN or infinite values.")
    # Floats are taken as 0-1, or as 0-255 when larger values appear.
    array = np.clip(array.astype(np.float64), 0.0, 255.0)
    return (array / 255.0 if array.max(initial=0.0) > 1.0 else array).astype(np.float32)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased resize of a float image."""
    resized = Image.fromarray(image.astype(np.float32), mode="F").resize((width, height), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)


def _has_ink(ink: np.ndarray) -> np.ndarray | None:
    """The mask of ink pixels, or None when there is too little ink to be a digit."""
    mask = ink > INK_LEVEL
    needed = max(MIN_INK_PIXELS, MIN_INK_FRACTION * ink.size)
    return mask if mask.sum() >= needed else None


def largest_stroke_extent(mask: np.ndarray) -> int:
    """The longer side, in pixels, of the bounding box of the largest 8-connected group of ink
    pixels (measured on a grid of at most 64x64 cells: a cell is ink if any of its pixels is)."""
    step = max(1, -(-max(mask.shape) // 64))
    height, width = -(-mask.shape[0] // step) * step, -(-mask.shape[1] // step) * step
    padded = np.zeros((height, width), bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    grid = padded.reshape(height // step, step, width // step, step).any(axis=(1, 3))
    groups, _ = ndimage.label(grid, structure=np.ones((3, 3), bool))
    boxes = ndimage.find_objects(groups)
    largest = max((max(rows.stop - rows.start, columns.stop - columns.start) for rows, columns in boxes), default=0)
    return largest * step


def preprocess_digit(image) -> PreprocessResult | None:
    """MNIST's recipe on any image; None when there is no ink (never a prediction for a blank canvas).

    Raises TooLittleInk when the ink is too small to be a digit (a dot, a few specks), and
    ValueError, with the reason, for arrays that are not images.
    """
    ink, inverted = to_ink(image)
    mask = _has_ink(ink)
    if mask is None:
        return None
    if largest_stroke_extent(mask) < MIN_DIGIT_FRACTION * max(mask.shape):
        raise TooLittleInk("Too little ink for a digit: draw a bigger digit.")
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    cropped = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]

    # Scale the longer side to 20 px, keeping the aspect ratio, and stretch contrast so
    # the strongest ink is 1, as in MNIST.
    height, width = cropped.shape
    scale = BOX / max(height, width)
    scaled = _resize(cropped, max(1, round(width * scale)), max(1, round(height * scale)))
    if scaled.max() > 0:
        scaled = scaled / scaled.max()

    # Place it in the middle of 28x28, then move its centre of mass to (14, 14), keeping
    # the whole digit inside the frame.
    canvas = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - scaled.shape[0]) // 2, (SIZE - scaled.shape[1]) // 2
    canvas[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    total = canvas.sum()
    if total > 0:
        indices = np.arange(SIZE)
        centre_row = (canvas.sum(axis=1) @ indices) / total
        centre_column = (canvas.sum(axis=0) @ indices) / total
        shift_row = int(np.clip(round(CENTRE - centre_row), -top, SIZE - top - scaled.shape[0]))
        shift_column = int(np.clip(round(CENTRE - centre_column), -left, SIZE - left - scaled.shape[1]))
        canvas = np.roll(canvas, (shift_row, shift_column), axis=(0, 1))
    steps = {"input": ink, "cropped": cropped, "scaled": scaled, "centred": canvas}
    return PreprocessResult(model_input=canvas, steps=steps, inverted=inverted)


def naive_resize(image) -> np.ndarray | None:
    """What the original app did: the whole image squeezed to 28x28. None when there is no ink."""
    ink, _ = to_ink(image)
    if _has_ink(ink) is None:
        return None
    return _resize(ink, SIZE, SIZE)


def read_image(data: bytes) -> np.ndarray:
    """Decodes an uploaded PNG, JPEG or BMP into an RGB or RGBA uint8 array, reduced so that its
    longer side is at most WORKING_SIDE pixels.

    Raises ValueError with a message for the user when the file is not such an image, is
    broken, or is too large: over MAX_DECODED_BYTES decoded (checked from its header, before
    decoding), unless a PNG of at most MAX_STREAMED_PIXELS, which libvips reads a few rows at
    a time. Memory stays within about 50 MB plus the file.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(
            f"The image is far too large: over {Image.MAX_IMAGE_PIXELS:,} pixels. Send a photo or scan of one digit."
        ) from None
    except Exception as error:  # Pillow raises many kinds of errors on broken files.
        raise ValueError(f"This file is not a readable image ({type(error).__name__}).") from error
    with picture:
        if picture.format not in ("PNG", "JPEG", "BMP"):
            raise ValueError(f"Unsupported image format {picture.format}; use PNG, JPEG or BMP.")
        # JPEG decodes at 1/2, 1/4 or 1/8 scale directly, close to the size needed.
        if picture.format == "JPEG":
            picture.draft(picture.mode, (WORKING_SIDE, WORKING_SIDE))
        width, height = picture.size
        # What Pillow holds decoded, the copy a conversion to RGB(A) makes for other modes, and the
        # copy that reducing an image with transparency makes (it premultiplies the alpha first).
        transparent = "A" in picture.getbands() or "transparency" in picture.info
        converted = picture.mode not in ("RGB", "RGBA", "L", "LA")
        kept = _PIXEL_BYTES.get(picture.mode, 4) + 4 * converted + 4 * transparent
        too_large = width * height * kept > MAX_DECODED_BYTES
        if too_large and picture.format == "PNG" and width * height <= MAX_STREAMED_PIXELS:
            return _streamed(data)
        if too_large:
            megapixels = width * height / 1e6
            raise ValueError(
                f"The image is too large to process: {width}x{height} pixels ({megapixels:.0f} megapixels) would "
                f"take {width * height * kept / 2**20:.0f} MB decoded; at most {MAX_DECODED_BYTES // 2**20} MB. "
                "Crop it to the digit, send it smaller, or send it as a JPEG (a JPEG is decoded at a reduced size)."
            )
        try:
            picture.load()
            mode = "RGBA" if "A" in picture.getbands() or "transparency" in picture.info else "RGB"
            if picture.mode not in ("RGB", "RGBA", "L", "LA"):
                picture = picture.convert(mode)
            factor = -(-max(picture.size) // WORKING_SIDE)
            if factor > 1:
                picture = picture.reduce(factor)
            return np.asarray(picture.convert(mode))
        except Exception as error:  # A file whose header is fine but whose data is broken.
            raise ValueError(f"This file is not a readable image ({type(error).__name__}).") from error


def _libvips():
    """pyvips (imported on first use: most uploads never need it), one thread and no operation
    cache, so that one upload holds only the rows it is working on."""
    import pyvips

    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    return pyvips


def _streamed(data: bytes) -> np.ndarray:
    """A PNG too large to decode whole: read by libvips top to bottom (sequential access)
    and shrunk by whole pixels on the way to at most WORKING_SIDE a side, as RGB or RGBA uint8."""
    pyvips = _libvips()
    try:
        # fail_on: broken or truncated data is an error, not rows of black.
        image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        factor = -(-max(image.width, image.height) // WORKING_SIDE)
        image = image.shrink(factor, factor)
        if image.format != "uchar":
            # 16-bit PNGs: the top 8 bits.
            image = (image / 256 if image.format in ("ushort", "short") else image).cast("uchar")
        pixels = np.ndarray(
            buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands)
        )
    except pyvips.Error as error:  # A file whose header is fine but whose data is broken.
        raise ValueError(f"This file is not a readable image ({type(error).__name__}).") from error
    if pixels.shape[2] in (1, 2):
        # Grey, or grey and alpha.
        pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
    return np.ascontiguousarray(pixels[..., :4])
