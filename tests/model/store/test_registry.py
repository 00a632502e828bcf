import pytest

from model.architecture import build_model
from model.store.registry import (
    DEFAULT_ID,
    ModelUnavailable,
    RegistryFull,
    active_version,
    check_room,
    delete_version,
    get_version,
    list_versions,
    new_version_id,
    publish_version,
    set_active,
)
from model.store.registry import main as registry_main
from model.store.schemas import RunMetadata


@pytest.fixture(scope="module")
def tiny_model():
    return build_model("default", width=0.25)


def test_publish_list_activate_and_delete(isolated_registry, tiny_model):
    first = publish_version(tiny_model, RunMetadata(test_accuracy=0.5, created="2026-01-01T00:00:00"), "a-run")
    second = publish_version(tiny_model, RunMetadata(test_accuracy=0.6, created="2026-02-01T00:00:00"), "b-run")
    assert [v.id for v in list_versions()] == [DEFAULT_ID, second.id, first.id]
    assert get_version("a-run").metadata == first.metadata and first.metadata.model_sha256
    assert active_version().id == DEFAULT_ID

    set_active("a-run")
    assert active_version().id == "a-run"
    assert active_version().cache_key != get_version(DEFAULT_ID).cache_key
    delete_version("a-run")
    assert active_version().id == DEFAULT_ID
    assert [v.id for v in list_versions()] == [DEFAULT_ID, "b-run"]
    assert sorted(p.name for p in isolated_registry.iterdir()) == ["active.json", "b-run"]


def test_the_default_is_never_deleted_or_overwritten(isolated_registry, tiny_model):
    with pytest.raises(ValueError, match="cannot be deleted"):
        delete_version(DEFAULT_ID)
    with pytest.raises(ValueError, match="exists already"):
        publish_version(tiny_model, RunMetadata(), DEFAULT_ID)


def test_a_crash_while_publishing_leaves_no_version_behind(isolated_registry, tiny_model, monkeypatch):
    def crash(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(tiny_model), "save", crash)
    with pytest.raises(KeyboardInterrupt):
        publish_version(tiny_model, RunMetadata(), "doomed")
    assert [v.id for v in list_versions()] == [DEFAULT_ID]
    assert list(isolated_registry.iterdir()) == []


def test_bad_ids_and_a_broken_active_file_fall_back_to_the_default(isolated_registry):
    for bad in ("", "../etc", ".job", "missing"):
        with pytest.raises(ModelUnavailable):
            get_version(bad)
    isolated_registry.mkdir(parents=True, exist_ok=True)
    (isolated_registry / "active.json").write_text("{not json")
    assert active_version().id == DEFAULT_ID
    (isolated_registry / "active.json").write_text('{"id": "gone"}')
    assert active_version().id == DEFAULT_ID


def test_version_ids_are_unique_and_safe():
    ids = {new_version_id("quick/../x") for _ in range(20)}
    assert len(ids) == 20 and all("/" not in i and not i.startswith(".") for i in ids)


def test_a_version_can_be_published_into_a_registry_other_than_the_environment_s(
    isolated_registry, tiny_model, tmp_path
):
    other = tmp_path / "other"
    version = publish_version(tiny_model, RunMetadata(), "elsewhere", registry=other)
    assert version.path == other / "elsewhere" and (other / "elsewhere" / "model.keras").is_file()
    assert not isolated_registry.exists()


def test_the_operator_caps_the_number_of_versions_and_the_disk(isolated_registry, tiny_model, monkeypatch):
    monkeypatch.setenv("DIGITS_MAX_VERSIONS", "2")
    publish_version(tiny_model, RunMetadata(), "one")
    publish_version(tiny_model, RunMetadata(), "two")
    with pytest.raises(RegistryFull, match="2 versions"):
        publish_version(tiny_model, RunMetadata(), "three")
    monkeypatch.setenv("DIGITS_MAX_VERSIONS", "10")
    monkeypatch.setenv("DIGITS_MAX_REGISTRY_MB", "1")
    check_room()
    (isolated_registry / "one" / "notes.bin").write_bytes(bytes(1 << 20))
    with pytest.raises(RegistryFull, match="MB"):
        check_room()
    monkeypatch.setenv("DIGITS_MAX_REGISTRY_MB", "lots")
    with pytest.raises(ValueError, match="DIGITS_MAX_REGISTRY_MB"):
        check_room()
    assert sorted(v.id for v in list_versions()) == [DEFAULT_ID, "one", "two"]


def test_the_command_line_lists_activates_and_deletes(isolated_registry, tiny_model, capsys):
    publish_version(tiny_model, RunMetadata(test_accuracy=0.5, created="2026-01-01"), "a-run")
    assert registry_main(["activate", "a-run"]) == 0
    assert active_version().id == "a-run" and "default for new visitors" in capsys.readouterr().out
    assert registry_main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1].startswith("* a-run  50.00%") and listed[0].startswith("  default")
    assert registry_main(["delete", "a-run"]) == 0
    assert active_version().id == DEFAULT_ID
    assert registry_main(["delete", DEFAULT_ID]) == 1
    assert "cannot be deleted" in capsys.readouterr().err
    assert registry_main(["activate", "../etc"]) == 1
