import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from model.runtime.preprocess import (
    MAX_DECODED_BYTES,
    MAX_STREAMED_PIXELS,
    TooLittleInk,
    from_uint8,
    naive_resize,
    preprocess_digit,
    read_image,
    to_ink,
)


def bar(height=280, width=280, rows=(60, 200), columns=(130, 150), value=255) -> np.ndarray:
    """A vertical bar, a stand-in for a drawn "1", light on dark."""
    image = np.zeros((height, width), np.uint8)
    image[rows[0] : rows[1], columns[0] : columns[1]] = value
    return image


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    indices = np.arange(image.shape[0])
    total = image.sum()
    return float(image.sum(axis=1) @ indices / total), float(image.sum(axis=0) @ indices / total)


def ink_extent(image: np.ndarray, level: float = 0.05) -> tuple[int, int]:
    rows, columns = np.flatnonzero((image > level).any(axis=1)), np.flatnonzero((image > level).any(axis=0))
    return rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1


def test_output_is_28x28_float_in_unit_range():
    result = preprocess_digit(bar())
    assert result.model_input.shape == (28, 28) and result.model_input.dtype == np.float32
    assert 0.0 <= result.model_input.min() and result.model_input.max() == pytest.approx(1.0)
    assert list(result.steps) == ["input", "cropped", "scaled", "centred"]
    np.testing.assert_array_equal(result.steps["centred"], result.model_input)


def test_longer_side_is_scaled_to_20_pixels_keeping_the_aspect_ratio():
    result = preprocess_digit(bar(rows=(40, 240), columns=(100, 180)))  # 200 tall, 80 wide.
    assert result.steps["cropped"].shape == (200, 80)
    assert result.steps["scaled"].shape == (20, 8)
    height, width = ink_extent(result.model_input)
    assert height == 20 and 7 <= width <= 9


def test_small_digits_are_scaled_up_too():
    # 10 tall, 5 wide, in the corner of a 50x50 image.
    result = preprocess_digit(bar(height=50, width=50, rows=(10, 20), columns=(5, 10)))
    assert result.steps["scaled"].shape == (20, 10)


def test_centre_of_mass_lands_on_pixel_14_wherever_the_digit_was_drawn():
    for rows, columns in [((5, 100), (5, 60)), ((150, 270), (200, 275)), ((60, 200), (20, 90))]:
        row, column = centre_of_mass(preprocess_digit(bar(rows=rows, columns=columns)).model_input)
        assert abs(row - 14) <= 0.5 and abs(column - 14) <= 0.5


def test_lopsided_digit_is_shifted_but_never_cut():
    image = np.zeros((280, 280), np.uint8)
    image[20:260, 20:40] = 255  # A long stroke...
    image[20:40, 20:260] = 255  # ...and a long arm: most mass top-left.
    result = preprocess_digit(image)
    assert result.model_input.sum() == pytest.approx(result.steps["scaled"].sum(), rel=1e-5)


@pytest.mark.parametrize(
    "convert",
    [
        lambda g: g,  # Light ink on dark, grayscale.
        lambda g: 255 - g,  # Dark ink on light paper.
        lambda g: np.stack([255 - g] * 3, axis=-1),  # RGB scan.
        lambda g: np.stack([g, g, g, np.full_like(g, 255)], axis=-1),  # Opaque RGBA.
        lambda g: np.stack([np.zeros_like(g)] * 3 + [g], axis=-1),  # Canvas: black ink, transparent paper.
        lambda g: g.astype(np.float32) / 255,  # Floats in 0-1.
        lambda g: g.astype(np.float64),  # Floats in 0-255.
    ],
)
def test_every_layout_and_polarity_gives_the_same_input(convert):
    reference = preprocess_digit(bar()).model_input
    np.testing.assert_allclose(preprocess_digit(convert(bar())).model_input, reference, atol=1e-3)


def test_polarity_is_reported():
    assert not preprocess_digit(bar()).inverted
    assert preprocess_digit(255 - bar()).inverted


def test_grey_paper_is_background_not_ink():
    photo = np.full((200, 200), 170, np.uint8)
    photo[40:160, 90:110] = 20
    ink, inverted = to_ink(photo)
    assert inverted and ink[0, 0] == 0.0 and ink[100, 100] == pytest.approx((170 - 20) / 170)
    assert preprocess_digit(photo).model_input.max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((280, 280), np.uint8),
        np.full((280, 280), 255, np.uint8),
        np.zeros((280, 280, 4), np.uint8),
        bar(rows=(100, 103), columns=(100, 103)),  # A 3x3 speck on a big canvas.
        np.full((50, 50), 0.1, np.float32),  # Faint uniform noise level.
    ],
)
def test_blank_or_near_blank_images_give_none(image):
    assert preprocess_digit(image) is None
    assert naive_resize(image) is None


def test_mnist_digits_come_back_almost_unchanged(small_mnist):
    _, (x_test, _) = small_mnist
    for digit in x_test[:20]:
        result = preprocess_digit(digit)
        # Same box and centring as MNIST: most pixels agree closely.
        assert np.mean(np.abs(result.model_input - digit / 255.0)) < 0.06


def test_naive_resize_squeezes_the_whole_image():
    naive = naive_resize(bar())
    assert naive.shape == (28, 28)
    height, width = ink_extent(naive, 0.3)
    assert height == 14 and width <= 3


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((5,)),
        np.zeros((4, 4, 2)),
        np.zeros((0, 10)),
        np.array([["x"]]),
        np.zeros((2, 2, 2, 2)),
        np.full((10, 10), np.nan),
        -np.ones((10, 10), np.int32),
        np.zeros((5000, 2)),
    ],
)
def test_non_images_raise_value_error(bad):
    with pytest.raises(ValueError):
        preprocess_digit(bad)


dtypes = st.sampled_from([np.uint8, np.int16, np.int64, np.float32, np.float64, np.bool_, np.uint16])
shapes = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
    st.tuples(st.integers(1, 60), st.integers(1, 60), st.sampled_from([1, 3, 4])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(dtypes, shapes))
def test_arbitrary_arrays_give_a_result_none_or_value_error(array):
    try:
        result = preprocess_digit(array)
    except ValueError as error:
        assert str(error)
        return
    if result is not None:
        assert result.model_input.shape == (28, 28)
        assert np.all(np.isfinite(result.model_input))
        assert 0.0 <= result.model_input.min() and result.model_input.max() <= 1.0


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_arbitrary_floats_with_nan_and_infinity_give_a_result_none_or_value_error(array):
    try:
        result = preprocess_digit(array)
    except ValueError as error:
        assert str(error)
        return
    assert result is None or np.all(np.isfinite(result.model_input))


def encoded(image: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
def test_uploads_decode_to_arrays(fmt):
    decoded = read_image(encoded(255 - bar(), fmt))
    assert decoded.shape == (280, 280, 3)
    assert preprocess_digit(decoded).inverted


def test_broken_unsupported_and_oversized_uploads_are_refused():
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(encoded(bar(), "PNG")[:200])
    with pytest.raises(ValueError, match="Unsupported image format GIF"):
        read_image(encoded(bar(), "GIF"))
    # A huge but tiny-on-disk PNG: refused from its header, before decoding.
    side = int(np.sqrt(MAX_STREAMED_PIXELS)) + 1
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="PNG")
    with pytest.raises(ValueError, match="too large to process"):
        read_image(buffer.getvalue())


def png_header_only(width: int, height: int, colour_type: int = 0) -> bytes:
    """A PNG that claims to be width x height pixels (grey, or colour with `colour_type` 2): what a
    decompression bomb starts with."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_refusal_names_the_image_s_own_size_and_the_limit():
    """Issue 30, item 2: a 6000x6000 photo was refused as one that "may take 16 MB decoded" (the limit)."""
    with pytest.raises(ValueError) as raised:
        read_image(png_header_only(8000, 8000, colour_type=2))
    message = str(raised.value)
    assert "8000x8000" in message and "64 megapixels" in message
    assert f"{8000 * 8000 * 4 / 2**20:.0f} MB" in message and f"at most {MAX_DECODED_BYTES // 2**20} MB" in message


@pytest.mark.slow
def test_a_png_past_what_pillow_may_hold_is_read_a_few_rows_at_a_time():
    """Issue 30, item 2: a 50-megapixel PNG scan was refused; anything a scanner makes up to 50
    megapixels is read, grey or colour, with or without transparency, 8 or 16 bits."""
    for mode, bits in (("RGB", 8), ("RGBA", 8), ("L", 8), ("I;16", 16)):
        image = Image.new(mode, (7000, 7000), 65535 if bits == 16 else "white")
        ImageDraw.Draw(image).rectangle((3300, 1000, 3700, 6000), fill="black" if mode.startswith("RGB") else 0)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        decoded = read_image(buffer.getvalue())
        assert decoded.dtype == np.uint8 and decoded.shape[2] in (3, 4) and max(decoded.shape[:2]) <= 512, mode
        result = preprocess_digit(decoded)
        assert result is not None and result.inverted, mode
    # Broken data behind a good header: unreadable, not a crash.
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(png_header_only(7000, 7000, colour_type=2))


def test_a_phone_photo_of_50_megapixels_is_read_reduced():
    """A JPEG decodes at an eighth of its size directly: a 50-megapixel photo fits."""
    image = np.full((6120, 8160, 3), 230, np.uint8)
    image[1500:4500, 3800:4300] = 20
    decoded = read_image(encoded(image, "JPEG"))
    assert max(decoded.shape[:2]) <= 512
    assert preprocess_digit(decoded) is not None


def test_a_decompression_bomb_is_called_too_large_not_unreadable():
    with pytest.raises(ValueError, match="far too large") as raised:
        read_image(png_header_only(30000, 30000))
    assert "not a readable" not in str(raised.value)


def test_big_uploads_are_reduced_before_any_float_conversion():
    # 4096x4096 grey: accepted, and decoded to at most 512 a side.
    image = np.zeros((4096, 4096), np.uint8)
    image[800:3300, 1900:2300] = 255
    decoded = read_image(encoded(image, "PNG"))
    assert max(decoded.shape[:2]) <= 512
    assert preprocess_digit(decoded).model_input.shape == (28, 28)
    # 5000x10: one clear outcome (no digit), not "too large" as well.
    wide = read_image(encoded(np.full((10, 5000), 255, np.uint8), "PNG"))
    assert max(wide.shape[:2]) <= 512
    assert preprocess_digit(wide) is None


# Peak memory of one upload (a PNG file), read and preprocessed, in a fresh process.
MEMORY_PROBE = """
import sys
from model.runtime.preprocess import _libvips, preprocess_digit, read_image

def kilobytes(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))

data = open(sys.argv[1], "rb").read()
# libvips loaded, as in a server that has read one large PNG (loading it takes memory once per process).
_libvips()
# Linux: resets the peak (VmHWM) to the memory in use now.
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = kilobytes("VmRSS")
result = preprocess_digit(read_image(data))
print(result is not None, (kilobytes("VmHWM") - before) / 1024)
"""


@pytest.mark.parametrize(
    "width, height, mode",
    # The largest accepted squares, and an A4 page scanned at 300 dpi (issue 30, item 2: refused before).
    # A 50-megapixel scan in grey and in colour: read by libvips a few rows at a time.
    [
        (4096, 4096, "L"),
        pytest.param(3300, 3300, "RGB", marks=pytest.mark.slow),
        pytest.param(2300, 2300, "RGBA", marks=pytest.mark.slow),
        (2480, 3508, "RGB"),
        pytest.param(6700, 6700, "L", marks=pytest.mark.slow),
        pytest.param(7000, 7000, "L", marks=pytest.mark.slow),
        (7000, 7000, "RGB"),
    ],
)
def test_one_upload_takes_at_most_50_mb(width, height, mode, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    side = min(width, height)
    image = np.zeros((height, width, 3), np.uint8)
    image[side // 5 : 4 * side // 5, side // 2 - side // 20 : side // 2 + side // 20] = 255
    path = tmp_path / "upload.png"
    Image.fromarray(image).convert(mode).save(path)
    output = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert output[0] == "True"
    assert float(output[1]) <= 50, f"{width}x{height} {mode}: {output[1]} MB"


def disc(centres: list[tuple[int, int]], radius: int = 11) -> np.ndarray:
    """Round pen dabs (the default pen is 22 px) on a transparent 280x280 canvas, as the canvas sends them."""
    rows, columns = np.ogrid[:280, :280]
    canvas = np.zeros((280, 280, 4), np.uint8)
    for row, column in centres:
        canvas[(rows - row) ** 2 + (columns - column) ** 2 <= radius**2] = 255
    return canvas


@pytest.mark.parametrize("centres", [[(140, 140)], [(80, 90), (200, 190)], [(100, 100), (104, 160), (180, 110)]])
def test_a_dot_or_a_few_specks_are_too_little_ink_for_a_digit(centres):
    with pytest.raises(TooLittleInk, match="draw a bigger digit"):
        preprocess_digit(disc(centres))


def test_a_short_stroke_of_a_small_digit_is_still_a_digit():
    # A "1" 60 px tall with the default pen: small, but a digit.
    assert preprocess_digit(disc([(row, 140) for row in range(110, 171, 4)])) is not None


def test_from_uint8_maps_mnist_pixels_to_unit_floats():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    values = from_uint8(pixels)
    assert values.dtype == np.float32 and values.shape == (1, 3)
    np.testing.assert_allclose(values, [[0.0, 0.2, 1.0]], atol=1e-7)
    with pytest.raises(ValueError, match="uint8"):
        from_uint8(values)
