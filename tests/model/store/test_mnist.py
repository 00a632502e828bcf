import numpy as np
import pytest

from model.store.mnist import EXPECTED, DataError, load_mnist, read_npz
from tests.conftest import write_npz


def tiny_arrays(count: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, count, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, count, dtype=np.uint8),
    }


def test_real_file_loads_with_mnist_shapes(mnist_file):
    (x_train, y_train), (x_test, y_test) = load_mnist(mnist_file)
    for name, array in zip(EXPECTED, (x_train, y_train, x_test, y_test)):
        assert (array.shape, array.dtype) == EXPECTED[name]
    assert set(np.unique(y_test)) == set(range(10))


def test_mnist_path_environment_variable_is_used(mnist_file, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    (x_train, _), _ = load_mnist()
    assert x_train.shape == (60000, 28, 28)


def test_small_file_round_trips_when_full_is_not_required(tmp_path):
    arrays = tiny_arrays()
    (x_train, y_train), (x_test, y_test) = read_npz(write_npz(tmp_path / "m.npz", **arrays), full=False)
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    np.testing.assert_array_equal(y_train, arrays["y_train"])


def test_small_file_is_refused_as_full_mnist(tmp_path):
    with pytest.raises(DataError, match=r"x_train has shape \(5, 28, 28\), expected \(60000, 28, 28\)"):
        read_npz(write_npz(tmp_path / "m.npz", **tiny_arrays()))


def test_wrong_keys_are_named(tmp_path):
    arrays = tiny_arrays()
    arrays["images"] = arrays.pop("x_train")
    with pytest.raises(DataError, match=r"missing arrays \['x_train'\]"):
        read_npz(write_npz(tmp_path / "m.npz", **arrays), full=False)


def test_wrong_image_shape_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["x_test"] = np.zeros((5, 32, 32), np.uint8)
    with pytest.raises(DataError, match="x_test has shape"):
        read_npz(write_npz(tmp_path / "m.npz", **arrays), full=False)


def test_wrong_dtype_and_label_range_are_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    with pytest.raises(DataError, match="x_train has dtype float32"):
        read_npz(write_npz(tmp_path / "a.npz", **arrays), full=False)
    arrays = tiny_arrays()
    arrays["y_test"][0] = 12
    with pytest.raises(DataError, match="label 12"):
        read_npz(write_npz(tmp_path / "b.npz", **arrays), full=False)


def test_pickled_object_array_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["y_train"] = np.array([{"label": 1}] * 5, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)  # Object arrays are stored as pickles.
    with pytest.raises(DataError, match="not an MNIST .npz of plain numeric arrays"):
        read_npz(path, full=False)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere.npz does not exist"):
        load_mnist(tmp_path / "nowhere.npz")


@pytest.mark.parametrize("content", [b"this is not a zip file", b"x_train,y_train\n1,2\n", b""])
def test_a_file_that_is_not_an_npz_says_so(tmp_path, content):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"^garbage.npz is not a .npz archive .*truncated, or another kind of file"):
        read_npz(path)


def test_a_truncated_or_damaged_npz_says_so_without_server_paths(tmp_path, mnist_file):
    whole = mnist_file.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="truncated.npz is not a .npz archive") as raised:
        load_mnist(truncated)
    assert str(tmp_path) not in str(raised.value)
    # A flipped byte inside the first array's data: the zip directory is intact, the data is not.
    damaged = tmp_path / "damaged.npz"
    data = bytearray(whole)
    data[len(data) // 4] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(DataError, match="damaged.npz is damaged and cannot be read"):
        load_mnist(damaged)
