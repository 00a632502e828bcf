"""Feature vectors laid out in 2-D for the digit map (PCA, UMAP or t-SNE), in this process or in
a separate one at a lower priority. Imports no TensorFlow: the separate process starts in a
second or two.

UMAP and t-SNE take a minute or so of the CPU for the 10,000 test digits (t-SNE on every core).
Run in the app's own process, that minute is taken from every visitor's strokes;
`project_apart` runs it in a child process at nice 10, as training runs, so the app's
process (and the forward worker) comes first.

References: McInnes, Healy and Melville, "UMAP: Uniform Manifold Approximation and
Projection for Dimension Reduction" (2018); Policar, Strazar and Zupan, "openTSNE: a modular
Python library for t-SNE dimensionality reduction and embedding" (2019).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

import numpy as np

METHODS = ("PCA", "UMAP", "t-SNE")
# UMAP's settings: neighbours, and the smallest distance between mapped points.
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.1
# How much lower than the app's the separate process's priority is (training's too).
NICENESS = 10


def project(
    values: np.ndarray, method: str, progress: Callable[[float], None] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Projects (N, D) features to 2-D. Returns {"points": (N, 2)}, and for PCA also "mean" and
    "components" (its transform), for UMAP "a" and "b" (its curve's parameters, for placing).
    `progress(fraction)` is called as t-SNE goes (UMAP reports none)."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    # A copy: the caller's array may be read-only (shared between sessions), which t-SNE cannot take.
    values = np.array(values, np.float32)
    if method == "PCA":
        mean = values.mean(axis=0)
        # The top two right singular vectors of the centred data are the principal axes.
        _, _, axes = np.linalg.svd(values - mean, full_matrices=False)
        components = axes[:2].astype(np.float32)
        return {"points": (values - mean) @ components.T, "mean": mean, "components": components}
    if method == "UMAP":
        import umap  # Imported only when used: numba compiles it on first use.

        # A fixed seed makes UMAP single-threaded anyway; saying so keeps it from warning.
        reducer = umap.UMAP(
            n_components=2, n_neighbors=UMAP_NEIGHBOURS, min_dist=UMAP_MIN_DIST, random_state=seed, n_jobs=1
        )
        points = reducer.fit_transform(values)
        return {"points": points.astype(np.float32), "a": np.float32(reducer._a), "b": np.float32(reducer._b)}
    import openTSNE

    total = 750  # openTSNE's default: 250 early-exaggeration iterations, then 500.

    class Progress:
        done = 0

        def __call__(self, iteration, error, embedding):
            self.done += 25
            if progress is not None:
                progress(min(self.done / total, 1.0))
            return False

    embedding = openTSNE.TSNE(
        n_jobs=os.cpu_count() or 1, random_state=seed, callbacks=Progress(), callbacks_every_iters=25
    ).fit(values)
    return {"points": np.asarray(embedding, np.float32)}


class LayoutFailed(RuntimeError):
    """The separate process could not lay the map out; the message says why."""


def project_apart(
    values: np.ndarray, method: str, progress: Callable[[float], None] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """`project`, computed in a child process at nice 10; `progress` is called here, in the caller's
    thread, which meanwhile only waits. Raises LayoutFailed when the child fails or dies."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(
        target=_lay_out, args=(theirs, np.asarray(values, np.float32), method, seed), name="map-layout", daemon=True
    )
    child.start()
    theirs.close()
    ended = f"The {method} map's process ended without a map"
    try:
        while True:
            if not ours.poll(1.0):
                if not child.is_alive() and not ours.poll():
                    raise LayoutFailed(f"{ended} (exit code {child.exitcode}).")
                continue
            try:
                kind, content = ours.recv()
            except EOFError:
                raise LayoutFailed(f"{ended} (exit code {child.exitcode}).") from None
            if kind == "progress" and progress is not None:
                progress(content)
            elif kind == "done":
                return content
            elif kind == "failed":
                raise LayoutFailed(f"The {method} map could not be computed: {content}")
    finally:
        ours.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def _lay_out(connection, values: np.ndarray, method: str, seed: int) -> None:
    """The child process: lowers its priority, lays the map out, sends progress and the result."""
    os.nice(NICENESS)
    try:
        result = project(values, method, lambda fraction: connection.send(("progress", fraction)), seed)
    except Exception as error:  # Sent to the parent, which raises it as LayoutFailed.
        connection.send(("failed", f"{type(error).__name__}: {error}"))
    else:
        connection.send(("done", result))
    finally:
        connection.close()
