import base64
import io

import numpy as np
import pytest
from PIL import Image

from pages.canvas import decode_drawing


def data_url(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_drawing_comes_back_as_rgba_pixels_with_its_ink_as_opacity():
    image = Image.new("RGBA", (280, 280))
    image.paste((255, 255, 255, 255), (100, 40, 120, 240))
    pixels = decode_drawing(data_url(image))
    assert pixels.shape == (280, 280, 4) and pixels.dtype == np.uint8
    assert pixels[140, 110, 3] == 255 and pixels[10, 10, 3] == 0


def test_an_empty_canvas_is_none():
    assert decode_drawing(None) is None


@pytest.mark.parametrize(
    "value",
    [
        42,
        "hello",
        data_url(Image.new("RGB", (10, 10)), "JPEG"),
        "data:image/png;base64,not base64!",
        "data:image/png;base64," + base64.b64encode(b"not a png").decode(),
    ],
)
def test_anything_else_raises_value_error(value):
    with pytest.raises(ValueError):
        decode_drawing(value)
