"""model/settings.py: every environment variable the operator sets, read in one place when asked."""

import pytest

from model import settings


def test_whole_number_settings_take_positive_numbers_only(monkeypatch):
    monkeypatch.delenv("DIGITS_MAX_VERSIONS", raising=False)
    assert settings.max_versions() == 20
    monkeypatch.setenv("DIGITS_MAX_VERSIONS", " 3 ")
    assert settings.max_versions() == 3
    for bad in ("0", "-2", "many", "2.5"):
        monkeypatch.setenv("DIGITS_MAX_VERSIONS", bad)
        with pytest.raises(ValueError, match="DIGITS_MAX_VERSIONS must be a positive whole number"):
            settings.max_versions()


@pytest.mark.parametrize(("value", "public"), [("", False), ("0", False), ("False", False), ("no", False), ("1", True)])
def test_public_mode_is_on_for_anything_but_empty_zero_false_or_no(monkeypatch, value, public):
    monkeypatch.setenv("DIGITS_PUBLIC", value)
    assert settings.public() is public


def test_folders_follow_the_environment_as_it_is_when_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("MODEL_REGISTRY", raising=False)
    monkeypatch.delenv("MY_DIGITS", raising=False)
    monkeypatch.delenv("MNIST_PATH", raising=False)
    assert settings.registry_folder() == settings.PROJECT_ROOT / "models"
    assert settings.my_digits_folder() is None and settings.mnist_file() is None
    monkeypatch.setenv("MODEL_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("MY_DIGITS", str(tmp_path / "mine"))
    monkeypatch.setenv("MNIST_PATH", "~/mnist.npz")
    assert settings.registry_folder() == tmp_path / "registry"
    assert settings.my_digits_folder() == tmp_path / "mine"
    assert settings.mnist_file().name == "mnist.npz" and "~" not in str(settings.mnist_file())
