import json

import pytest

from model.store.schemas import JobStatus, RunMetadata


def test_metadata_round_trips_through_json():
    metadata = RunMetadata(
        config={"epochs": 3},
        preset="quick",
        history=[{"epoch": 1, "loss": 0.5}],
        test_accuracy=0.99,
        parameters=1000,
        training_seconds=12.5,
        created="2026-11-25T00:00:00",
    )
    assert RunMetadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata


def test_older_files_load_missing_fields_get_defaults_and_unknown_ones_are_dropped():
    metadata = RunMetadata.from_dict({"test_accuracy": 0.98, "something_new": [1, 2]})
    assert metadata.test_accuracy == 0.98 and metadata.preset == "custom" and metadata.history == []
    assert "something_new" not in metadata.to_dict()


def test_metadata_written_under_the_old_preset_name_loads_under_the_new_one():
    assert RunMetadata.from_dict({"preset": "seed"}).preset == "original"


def test_whole_numbers_in_float_fields_become_floats():
    metadata = RunMetadata.from_dict({"training_seconds": 5073, "test_accuracy": 1})
    assert isinstance(metadata.training_seconds, float) and isinstance(metadata.test_accuracy, float)


@pytest.mark.parametrize(
    "values",
    [
        {"test_accuracy": "99%"},
        {"parameters": 1.5},
        {"parameters": True},
        {"config": [1]},
        {"history": {}},
        {"created": None},
        {"preset": 3},
    ],
)
def test_wrong_types_raise_value_error(values):
    with pytest.raises(ValueError, match="wrong type"):
        RunMetadata.from_dict(values)


@pytest.mark.parametrize("values", [None, [], "metadata"])
def test_anything_but_an_object_raises_value_error(values):
    with pytest.raises(ValueError, match="JSON object"):
        RunMetadata.from_dict(values)


def test_job_status_round_trips_and_knows_when_it_is_active():
    status = JobStatus(state="running", job="abc", config={"epochs": 2}, epoch=1, epochs=2, batch=3, batches=10)
    assert JobStatus.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    assert status.is_active and not status.replace(state="finished").is_active


def test_job_status_needs_a_known_state_and_a_job_id():
    with pytest.raises(ValueError, match="state"):
        JobStatus(state="paused", job="abc")
    with pytest.raises(ValueError, match="state"):
        JobStatus.from_dict({"state": "paused", "job": "abc"})
    with pytest.raises(ValueError, match="job"):
        JobStatus.from_dict({"state": "running"})
