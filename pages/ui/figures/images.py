"""Images made to be shown: enlarged, framed, squared, tiled channels."""

from __future__ import annotations

import numpy as np


def enlarged(image: np.ndarray, width: int) -> np.ndarray:
    """A small image enlarged by a whole factor to about `width` pixels, each pixel a sharp square
    (a browser would blur it)."""
    factor = max(1, width // max(image.shape[:2]))
    return np.kron(image, np.ones((factor, factor), image.dtype))


def framed(image: np.ndarray) -> np.ndarray:
    """A uint8 grey image with a one-pixel grey frame, so that ink at its edge does not merge
    into the white page."""
    return np.pad(image, 1, constant_values=128)


def padded_square(image: np.ndarray) -> np.ndarray:
    """An image padded with black (or transparency) to a square, centred: so that a row of
    steps of different shapes lines up."""
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    padding = [(top, side - height - top), (left, side - width - left)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, padding)


def square_thumbnail(image: np.ndarray, side: int) -> np.ndarray:
    """A grey image in [0, 1] padded to a square (`padded_square`) and, if larger, scaled down to
    `side` pixels, as uint8. The browser shows it at `side` pixels: a larger one would be scaled
    down by the server, after encoding it once to decode it again (a canvas drawing is 280 px)."""
    from PIL import Image

    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    if max(height, width) > side:
        # Scaled first, then padded: the same picture, with less to pad.
        scale = side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))
    return padded_square(pixels)


def tile_channels(
    maps: np.ndarray, order: np.ndarray, per_channel: bool, columns: int, limits: tuple[float, float] | None = None
) -> np.ndarray:
    """(H, W, C) maps -> one mosaic image, channels in `order`, one pixel of NaN between tiles.

    Values are scaled to [0, 1]: from `limits` when given, else with `per_channel` each
    tile to its own range, otherwise all tiles to one shared range.
    """
    height, width, _ = maps.shape
    rows = -(-len(order) // columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan, np.float32)
    low, high = limits if limits is not None else (float(np.min(maps)), float(np.max(maps)))
    for position, channel in enumerate(order):
        tile = maps[..., channel].astype(np.float32)
        if per_channel and limits is None:
            low, high = float(tile.min()), float(tile.max())
        tile = (tile - low) / (high - low) if high > low else np.zeros_like(tile)
        row, column = divmod(position, columns)
        mosaic[
            row * (height + 1) : row * (height + 1) + height, column * (width + 1) : column * (width + 1) + width
        ] = tile
    return mosaic


def vector_tile(values: np.ndarray, columns: int | None = None) -> np.ndarray:
    """A 1-D vector as a near-square grid, row by row, NaN after its end."""
    values = np.ravel(values).astype(np.float32)
    columns = columns or int(np.ceil(np.sqrt(len(values))))
    grid = np.full(-(-len(values) // columns) * columns, np.nan, np.float32)
    grid[: len(values)] = values
    return grid.reshape(-1, columns)
