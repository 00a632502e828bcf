"""The figures: click targets (Plotly cannot select heat-map cells, so clicks land on scatter points), sweeps."""

import numpy as np

from pages.ui.figures.images import framed, padded_square, square_thumbnail, tile_channels
from pages.ui.figures.layers import mosaic_figure
from pages.ui.figures.maps import digit_map_figure
from pages.ui.figures.predictions import comparison_bars, confusion_difference_figure, confusion_figure
from pages.ui.figures.training import curves_caption, sweep_figure, training_curves


def targets(figure):
    return next(trace for trace in figure.data if trace.type == "scatter")


def test_each_mosaic_tile_has_a_target_at_its_centre_naming_its_channel():
    maps = np.random.default_rng(0).random((4, 6, 5), dtype=np.float32)
    order = np.array([3, 0, 4, 1, 2])
    mosaic = tile_channels(maps, order, per_channel=False, columns=2)
    scatter = targets(mosaic_figure(mosaic, (4, 6), order, columns=2))
    assert list(scatter.customdata) == [3, 0, 4, 1, 2]
    # Tile k sits at row k // 2, column k % 2, each tile 6 wide and 4 high with a 1-pixel gap.
    for position, (x, y) in enumerate(zip(scatter.x, scatter.y)):
        row, column = divmod(position, 2)
        tile = mosaic[row * 5 : row * 5 + 4, column * 7 : column * 7 + 6]
        assert (x, y) == (column * 7 + 2.5, row * 5 + 1.5)
        np.testing.assert_allclose(tile, mosaic[int(y) - 1 : int(y) + 3, int(x) - 2 : int(x) + 4])


def test_every_confusion_cell_has_a_target_with_its_digits_and_count():
    confusion = np.arange(100).reshape(10, 10)
    scatter = targets(confusion_figure(confusion, normalised=False))
    cells = {(int(y), int(x)): text for x, y, text in zip(scatter.x, scatter.y, scatter.text)}
    assert len(cells) == 100
    assert cells[(4, 9)] == "49" and cells[(0, 0)] == "0"


def test_a_sweep_of_two_settings_is_a_heat_map_and_of_one_a_bar_per_value():
    rows = [
        {"trial": 0, "learning_rate": 0.001, "rotation": 0.0, "state": "finished", "validation_accuracy": 0.98},
        {
            "trial": 1,
            "learning_rate": 0.001,
            "rotation": 5.0,
            "state": "stopped early",
            "epoch": 2,
            "validation_accuracy": 0.95,
        },
        {"trial": 2, "learning_rate": 0.01, "rotation": 0.0, "state": "running"},
        {"trial": 3, "learning_rate": 0.01, "rotation": 5.0, "state": "waiting"},
    ]
    heat = sweep_figure(rows, ["learning_rate", "rotation"]).data[0]
    assert list(heat.y) == ["0.001", "0.01"] and list(heat.x) == ["0.0", "5.0"]
    assert heat.z[0][0] == 0.98 and np.isnan(heat.z[1][0])
    assert heat.text[0][1] == "95.00%<br>stopped after epoch 2" and heat.text[1][0] == "running"
    assert (heat.zmin, heat.zmax) == (0.95, 0.98)
    bars = sweep_figure(rows[:2], ["rotation"]).data[0]
    assert list(bars.x) == ["0.0", "5.0"] and list(bars.y) == [0.98, 0.95]


def test_the_difference_matrix_colours_what_is_better_for_b_diagonal_included():
    """Issue 30, item 6: B getting 9 fewer 3s right was dark blue, the colour of fewer mistakes."""
    difference = np.zeros((10, 10), int)
    difference[3, 3] = -9  # B gets 9 fewer 3s right: worse.
    difference[4, 9] = -2  # B calls 4 a 9 twice less: better.
    heat = confusion_difference_figure(difference).data[0]
    assert heat.z[3][3] < 0 < heat.z[4][9]
    assert heat.text[3][3] == "-9" and heat.text[4][9] == "-2"
    assert "better for B" in heat.colorbar.title.text
    # Its scale speaks of better and worse, not of numbers: a red "+6" (six more of one mistake)
    # sat beside a scale that put +6 in blue (seen in the public-mode walk).
    assert list(heat.colorbar.ticktext) == ["worse for B", "no change", "better for B"]
    assert list(heat.colorbar.tickvals) == [heat.zmin, 0, heat.zmax]


def test_per_digit_bars_say_where_their_axis_starts():
    """The recall bars started at about 97.5% without saying so, which magnified small gaps."""
    first, second = np.full(10, 0.99), np.full(10, 0.985)
    figure = comparison_bars(first, second, "a", "b")
    low = figure.layout.yaxis.range[0]
    assert 0 < low < 0.985 and f"axis from {low:.1%}" in figure.layout.yaxis.title.text
    assert figure.layout.yaxis.range[1] == 1.0


def test_training_curves_stay_in_range_and_their_caption_names_what_is_drawn():
    """Issue 30, item 6: accuracy ran to 1.5, loss below 0, and the caption spoke of validation curves not drawn."""
    history = [{"epoch": 1, "loss": 0.4, "accuracy": 0.9}, {"epoch": 2, "loss": 0.2, "accuracy": 0.95}]
    figure = training_curves(history)
    assert list(figure.layout.yaxis2.range) == [0, 1]
    assert figure.layout.yaxis.rangemode == "tozero"
    assert "validation" not in curves_caption(history)
    with_validation = [{**row, "val_loss": 0.3, "val_accuracy": 0.93} for row in history]
    assert "validation" in curves_caption(with_validation)


def test_sweep_bars_start_at_zero_and_say_their_numbers():
    """Issue 30, item 6: the bars started at 94.4%, which made small gaps look large."""
    rows = [
        {"trial": 0, "rotation": 0.0, "state": "finished", "validation_accuracy": 0.98},
        {"trial": 1, "rotation": 5.0, "state": "finished", "validation_accuracy": 0.95},
    ]
    figure = sweep_figure(rows, ["rotation"])
    assert figure.layout.yaxis.range[0] == 0
    assert list(figure.data[0].text) == ["98.00%", "95.00%"]


def test_each_preprocessing_step_is_shown_square_so_the_row_lines_up():
    """Issue 30, item 9: "What the network sees" was misaligned: the crop to the ink is not square."""
    tall = np.ones((40, 10), np.float32)
    square = padded_square(tall)
    assert square.shape == (40, 40) and square[:, 15:25].all() and not square[:, :15].any()
    rgba = np.ones((10, 30, 4), np.uint8)
    assert padded_square(rgba).shape == (30, 30, 4)


def test_a_step_larger_than_its_place_is_scaled_down_before_it_is_shown():
    """Issue 33, item 5: a 280 px drawing shown 160 px wide was encoded, decoded, scaled and encoded again
    by the server on every stroke; it is scaled once, here, and small steps are left as they are."""
    drawing = np.zeros((280, 280), np.float32)
    drawing[:, 140:] = 1.0
    shown = square_thumbnail(drawing, 160)
    assert shown.shape == (160, 160) and shown.dtype == np.uint8
    assert shown[:, :75].max() == 0 and shown[:, 85:].min() == 255
    crop = np.ones((40, 10), np.float32) * 2.0
    small = square_thumbnail(crop, 160)
    assert small.shape == (40, 40) and small.max() == 255 and not small[:, :15].any()
    wide = square_thumbnail(np.ones((100, 400), np.float32), 160)
    assert wide.shape == (160, 160) and wide[80].all() and not wide[0].any()


def test_a_top_patch_has_a_frame_so_ink_at_its_edge_shows():
    """Issue 30, item 9: patches with white edges merged into the page."""
    patch = np.full((5, 5), 255, np.uint8)
    shown = framed(patch)
    assert shown.shape == (7, 7) and (shown[0] == 128).all() and (shown[:, -1] == 128).all()
    assert (shown[1:-1, 1:-1] == 255).all()


def test_the_digit_map_leaves_room_above_for_the_toolbar():
    """Issue 30, item 9: Plotly's toolbar covered the legend's title."""
    points = np.random.default_rng(0).random((20, 2)).astype(np.float32)
    labels = np.arange(20) % 10
    figure = digit_map_figure(points, labels, labels, np.ones(20, bool))
    assert figure.layout.margin.t >= 40


def test_the_row_normalised_scale_says_percent():
    """The public-mode walk: the cells said "0.5%", the scale beside them 0-0.45 with no unit."""
    confusion = np.diag(np.full(10, 990)) + 1
    errors = confusion_figure(confusion, normalised=True).data[1]
    assert errors.colorbar.ticksuffix == "%"
    assert confusion_figure(confusion, normalised=False).data[1].colorbar.ticksuffix is None
