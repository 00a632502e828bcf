import errno
import os

import numpy as np
import pytest

from model.store.files import atomic_write, file_sha256, kept_or_computed, locking_problem, read_json, write_json


def test_json_round_trips(tmp_path):
    write_json({"a": [1, 2.5, None]}, tmp_path / "deep" / "x.json")
    assert read_json(tmp_path / "deep" / "x.json") == {"a": [1, 2.5, None]}


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_json({"version": 1}, path)

    def crash(temporary: str) -> None:
        with open(temporary, "w") as handle:
            handle.write('{"version": 2, "half')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert read_json(path) == {"version": 1}
    assert [child.name for child in tmp_path.iterdir()] == ["state.json"]


def test_sha256_of_a_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_kept_or_computed_computes_once_and_again_when_the_kept_file_lacks_a_name(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"points": np.arange(6.0).reshape(3, 2)}

    path = tmp_path / "map.npz"
    first = kept_or_computed(path, {"points"}, compute)
    second = kept_or_computed(path, {"points"}, compute)
    assert len(calls) == 1 and path.exists()
    np.testing.assert_array_equal(first["points"], second["points"])
    # A file kept by older code, without a name asked for now, is computed afresh.
    kept_or_computed(path, {"points", "a"}, compute)
    assert len(calls) == 2


def test_what_several_replicas_ask_for_at_once_is_computed_once(tmp_path):
    """Issue 33: three fresh replicas sharing a registry each fitted the same results at once, on
    the cores their visitors' strokes needed. The first computes; the others wait and read it."""
    import threading
    import time

    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return {"points": np.arange(6.0).reshape(3, 2)}

    path = tmp_path / "cache" / "map.npz"
    results = []
    asking = [
        threading.Thread(target=lambda: results.append(kept_or_computed(path, {"points"}, compute))) for _ in range(3)
    ]
    for thread in asking:
        thread.start()
    for thread in asking:
        thread.join()
    assert len(calls) == 1 and len(results) == 3
    for result in results:
        np.testing.assert_array_equal(result["points"], np.arange(6.0).reshape(3, 2))


def test_a_folder_without_locks_is_refused_with_the_reason(tmp_path, monkeypatch):
    assert locking_problem(tmp_path / "shared") == ""
    # flock on some network mounts: "No locks available".
    import fcntl

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    problem = locking_problem(tmp_path / "shared")
    assert "No locks available" in problem and "NFSv4" in problem
