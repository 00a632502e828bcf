import numpy as np
import pytest

from training.elastic import RandomElastic, sample_bilinear


def _ramps(count: int) -> np.ndarray:
    """Images whose two channels hold each pixel's own row and column."""
    rows, columns = np.meshgrid(np.arange(28.0), np.arange(28.0), indexing="ij")
    return np.broadcast_to(np.stack([rows, columns], axis=-1), (count, 28, 28, 2)).astype(np.float32)


def test_bilinear_sampling_reads_pixels_and_blacks_out_the_outside():
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    rows, columns = _ramps(3)[..., 0], _ramps(3)[..., 1]
    assert np.array_equal(np.asarray(sample_bilinear(images, rows, columns)), images)
    moved = np.asarray(sample_bilinear(images, rows, columns + 1.0))
    assert np.allclose(moved[:, :, :27], images[:, :, 1:])
    assert np.all(moved[:, :, 27] == 0.0)
    halfway = np.asarray(sample_bilinear(images, rows + 0.5, columns))
    assert np.allclose(halfway[:, :27], (images[:, :27] + images[:, 1:]) / 2, atol=1e-6)


@pytest.mark.parametrize("displacement", [0.5, 1.0, 2.0])
def test_pixels_move_by_the_requested_root_mean_square_distance(displacement):
    # Sampling an image of its own coordinates returns where each pixel came from.
    ramps = _ramps(64)
    moved = np.asarray(RandomElastic(displacement, seed=1)(ramps))
    shift = (moved - ramps)[:, 10:18, 10:18]
    measured = np.sqrt(np.mean(np.square(shift), axis=(0, 1, 2)))
    assert np.allclose(measured, displacement, rtol=0.2), measured
    # The field is smooth: neighbouring pixels move almost alike.
    assert np.mean(np.abs(np.diff(shift, axis=2))) < 0.2 * displacement


def test_rows_and_columns_move_independently():
    # Fields drawn from one seed for both axes would move pixels along a diagonal only
    # (a correlation of 1).
    ramps = _ramps(1024)
    shift = (np.asarray(RandomElastic(1.0, seed=2)(ramps)) - ramps)[:, 10:18, 10:18]
    correlation = np.corrcoef(shift[..., 0].ravel(), shift[..., 1].ravel())[0, 1]
    assert abs(correlation) < 0.15


def test_off_in_inference_and_at_zero_and_seeded():
    images = np.random.default_rng(1).random((4, 28, 28, 1)).astype(np.float32)
    assert np.array_equal(np.asarray(RandomElastic(1.5, seed=0)(images, training=False)), images)
    assert np.array_equal(np.asarray(RandomElastic(0.0, seed=0)(images)), images)
    first, again = RandomElastic(1.5, seed=3)(images), RandomElastic(1.5, seed=3)(images)
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.allclose(np.asarray(first), np.asarray(RandomElastic(1.5, seed=4)(images)))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="displacement"):
        RandomElastic(-1.0)
    with pytest.raises(ValueError, match="smoothness"):
        RandomElastic(1.0, smoothness=0.0)


def test_config_round_trip():
    layer = RandomElastic(1.5, smoothness=3.0, seed=7, name="elastic")
    assert RandomElastic.from_config(layer.get_config()).get_config() == layer.get_config()
