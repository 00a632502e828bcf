"""The digit map's computations: features, projections, placing a new digit, nearest neighbours."""

import numpy as np
import pytest

from model.analysis import projection as projection_module
from model.analysis.layout import project_apart
from model.analysis.projection import (
    NeighbourIndex,
    cached_features,
    cached_projection,
    feature_layers,
    features,
    place,
    project,
    umap_memberships,
)
from model.architecture import build_model
from model.runtime.apart import ApartFailed
from model.runtime.preprocess import from_uint8


@pytest.fixture(scope="module")
def shipped(shipped_model):
    return shipped_model


@pytest.fixture(scope="module")
def digits(mnist):
    _, (x_test, y_test) = mnist
    return x_test[:400], y_test[:400]


def test_the_mappable_layers_are_flatten_and_dense_before_the_output(shipped):
    assert feature_layers(shipped) == ["flatten"]
    assert feature_layers(build_model("original", width=0.5)) == ["flatten", "dense1", "dense2"]


def test_features_of_uint8_digits_and_of_float_inputs_agree(shipped, digits):
    images, _ = digits
    values = features(shipped, "flatten", images[:50])
    assert values.shape == (50, 128) and values.dtype == np.float32
    np.testing.assert_allclose(features(shipped, "flatten", from_uint8(images[:50])), values, atol=1e-5)
    with pytest.raises(ValueError, match="not a flatten or dense layer"):
        features(shipped, "conv1", images[:2])


def test_pca_places_a_known_digit_exactly_where_the_map_has_it(shipped, digits):
    images, labels = digits
    values = features(shipped, "flatten", images)
    mapped = project(values, "PCA")
    assert mapped["points"].shape == (400, 2)
    np.testing.assert_allclose(place(mapped, values[17], NeighbourIndex(values)), mapped["points"][17], atol=1e-3)
    # The network's features separate the digits: points of one digit sit closer to their own centre.
    centres = np.stack([mapped["points"][labels == d].mean(axis=0) for d in range(10)])
    nearest_centre = np.argmin(((mapped["points"][:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest_centre == labels) > 0.5


def test_nearest_neighbours_are_exact(shipped, digits):
    images, _ = digits
    values = features(shipped, "flatten", images)
    index = NeighbourIndex(values)
    query = values[3] + 0.01
    nearest, distances = index.query(query, 10)
    # The same neighbours as in float64, distances within a fraction of a percent.
    exact = np.sqrt(((values.astype(np.float64) - query) ** 2).sum(axis=1))
    assert nearest[0] == 3 and set(nearest) == set(np.argsort(exact)[:10])
    np.testing.assert_allclose(distances, np.sort(exact)[:10], rtol=0.01, atol=0.05)
    with pytest.raises(ValueError, match="features"):
        index.query(np.zeros(5))


def test_a_new_digit_goes_where_its_neighbours_are_on_a_map_without_a_transform(shipped, digits):
    images, _ = digits
    values = features(shipped, "flatten", images)
    points = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    nearest, _ = NeighbourIndex(values).query(values[5], 10)
    np.testing.assert_allclose(place({"points": points}, values[5], NeighbourIndex(values)), points[nearest].mean(0))


def test_umap_memberships_sum_to_log2_of_the_neighbours_after_the_nearest():
    distances = np.sort(np.random.default_rng(1).uniform(1.0, 5.0, 15))
    weights = umap_memberships(distances)
    assert np.all((weights > 0) & (weights <= 1)) and np.all(np.diff(weights) <= 0)
    assert weights[1:].sum() == pytest.approx(np.log2(15), abs=1e-3)


def test_features_and_maps_are_kept_on_disk_and_reused(shipped, digits, tmp_path, monkeypatch):
    images, _ = digits
    values = cached_features(shipped, "flatten", images, tmp_path, "a" * 64)
    first = cached_projection(values, "PCA", tmp_path, "key")
    assert {path.name.split("-")[0] for path in tmp_path.iterdir()} == {"features", "map"}

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(projection_module, "features", refuse)
    monkeypatch.setattr(projection_module, "project", refuse)
    np.testing.assert_allclose(cached_features(shipped, "flatten", images, tmp_path, "a" * 64), values, atol=0.02)
    np.testing.assert_array_equal(cached_projection(values, "PCA", tmp_path, "key")["points"], first["points"])
    with pytest.raises(AssertionError, match="computed again"):
        cached_projection(values, "t-SNE", tmp_path, "key")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["UMAP", "t-SNE"])
def test_umap_and_tsne_map_every_digit_and_report_progress(method, shipped, digits):
    images, labels = digits
    values = features(shipped, "flatten", images)
    fractions = []
    mapped = project(values, method, progress=fractions.append)
    assert mapped["points"].shape == (400, 2) and np.all(np.isfinite(mapped["points"]))
    # Issue 30, item 4: UMAP's bar sat at 0% for a minute or more; it reports its epochs now.
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions) and len(set(fractions)) > 3
    # Neighbours on the map mostly share a label (the features separate digits well).
    index = NeighbourIndex(mapped["points"])
    same = [np.mean(labels[index.query(mapped["points"][i], 6)[0][1:]] == labels[i]) for i in range(0, 400, 8)]
    assert np.mean(same) > 0.8


@pytest.mark.slow
def test_a_new_digit_goes_where_umaps_own_transform_puts_it(shipped, mnist):
    import umap

    (x_train, _), (x_test, y_test) = mnist
    values = features(shipped, "flatten", x_test[:1000])
    new = features(shipped, "flatten", x_train[:40])
    reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_jobs=1)
    points = reducer.fit_transform(values)
    mapped = {"points": points, "a": np.float32(reducer._a), "b": np.float32(reducer._b)}
    index = NeighbourIndex(values)
    ours = np.array([place(mapped, vector, index) for vector in new])
    theirs = reducer.transform(new)
    # Within 2% of the map's size of umap-learn's own placement, and beside the same mapped digits.
    gaps = np.linalg.norm(ours - theirs, axis=1)
    assert np.median(gaps) < 0.02 * np.ptp(points, axis=0).max()

    def nearest_label(point):
        return y_test[np.argmin(((points - point) ** 2).sum(axis=1))]

    assert np.mean([nearest_label(a) == nearest_label(b) for a, b in zip(ours, theirs)]) >= 0.9


@pytest.mark.slow
@pytest.mark.processes
def test_a_map_laid_out_apart_is_the_same_map_and_a_failure_there_says_why(shipped, digits):
    images, _ = digits
    values = features(shipped, "flatten", images[:200])
    apart = project_apart(values, "PCA")
    np.testing.assert_allclose(apart["points"], project(values, "PCA")["points"], atol=1e-4)
    broken = values.copy()
    broken[0, 0] = np.nan
    with pytest.raises(ApartFailed, match="could not be computed: LinAlgError"):
        project_apart(broken, "PCA")


@pytest.mark.slow
@pytest.mark.processes
def test_a_map_laid_out_apart_runs_at_a_lower_priority_and_reports_progress(shipped, digits):
    """Issue 29, item 3: a UMAP or t-SNE map took both cores from every visitor's strokes; in the
    background it runs at nice 10 and SCHED_IDLE (only when nothing else wants the CPU)."""
    import multiprocessing
    import os

    images, _ = digits
    values = features(shipped, "flatten", images[:300])
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    seen = []

    def progress(fraction):
        children = [child for child in multiprocessing.active_children() if child.name == "apart"]
        seen.append(
            (
                fraction,
                [(os.getpriority(os.PRIO_PROCESS, child.pid), os.sched_getscheduler(child.pid)) for child in children],
            )
        )

    mapped = project_apart(values, "t-SNE", progress)
    assert mapped["points"].shape == (300, 2) and np.isfinite(mapped["points"]).all()
    assert seen and seen[-1][0] == 1.0
    assert all(priorities == [(min(ours + 10, 19), os.SCHED_IDLE)] for _, priorities in seen), seen


@pytest.mark.slow
@pytest.mark.processes
def test_features_computed_apart_are_the_features(shipped, digits):
    from model.analysis.projection import features_apart
    from model.store.registry import default_version

    images, _ = digits
    # Issue 30, item 4: 70,000 digits' features took half a minute behind a spinner; they report progress.
    reported = []
    apart = features_apart(str(default_version().model_file), "flatten", images[:100], progress=reported.append)
    np.testing.assert_allclose(apart, features(shipped, "flatten", images[:100]), atol=1e-5)
    assert reported and reported[-1] == 1.0 and reported == sorted(reported)


def test_features_report_their_progress_batch_by_batch(shipped, digits, monkeypatch):
    from model.analysis import projection

    images, _ = digits
    monkeypatch.setattr(projection, "BATCH", 30)
    reported = []
    features(shipped, "flatten", images[:100], progress=reported.append)
    assert reported == [0.3, 0.6, 0.9, 1.0]
