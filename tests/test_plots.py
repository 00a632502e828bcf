"""The figures: click targets (Plotly cannot select heat-map cells, so clicks land on scatter points), sweeps."""

import numpy as np

from pages.plots import confusion_figure, mosaic_figure, sweep_figure, tile_channels


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
