import numpy as np

from training.config import TrainConfig
from training.pipeline import augment_preview, make_dataset, split_data


def test_split_is_seeded_and_disjoint():
    x = np.arange(1000).reshape(1000, 1, 1).repeat(28, 1).repeat(28, 2)
    y = np.arange(1000) % 10
    config = TrainConfig(train_size=500, validation_split=0.2, seed=3)
    (train_x, _), (val_x, _) = split_data(config, x, y)
    (again, _), _ = split_data(config, x, y)
    assert (len(train_x), len(val_x)) == (400, 100)
    np.testing.assert_array_equal(train_x, again)
    assert not set(train_x[:, 0, 0]) & set(val_x[:, 0, 0])


def test_the_preview_shows_the_augmentation_and_nothing_without_one(small_mnist):
    digits = small_mnist[0][0][:8]
    plain = augment_preview(digits, TrainConfig(rotation=0.0, shift=0.0, zoom=0.0))
    np.testing.assert_allclose(plain, digits / 255.0, atol=1e-6)
    rotated = augment_preview(digits, TrainConfig(rotation=30.0, shift=0.0, zoom=0.0), seed=1)
    assert rotated.shape == (8, 28, 28) and 0.0 <= rotated.min() and rotated.max() <= 1.0
    assert np.mean(np.abs(rotated - plain)) > 0.01
    np.testing.assert_array_equal(
        rotated, augment_preview(digits, TrainConfig(rotation=30.0, shift=0.0, zoom=0.0), seed=1)
    )


def test_datasets_batch_scale_and_keep_labels(small_mnist):
    (x, y), _ = small_mnist
    batches = list(make_dataset(x[:100], y[:100], 32))
    assert [len(images) for images, _ in batches] == [32, 32, 32, 4]
    images, labels = batches[0]
    np.testing.assert_allclose(np.asarray(images)[..., 0], x[:32] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(labels), y[:32])
