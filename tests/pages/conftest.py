"""The pages' tests read `small_mnist_file` as MNIST (3,000 training and 1,000 test digits) unless
they set MNIST_PATH themselves: the pages compute over every test digit, and a tenth of the work
tests the same code. The real sizes are run by the slow tests and measured in benchmarks/."""

import pytest

from tests.conftest import use_small_mnist


@pytest.fixture(autouse=True)
def small_mnist_everywhere(small_mnist_file, monkeypatch):
    use_small_mnist(monkeypatch, small_mnist_file)
