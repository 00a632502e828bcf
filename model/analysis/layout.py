"""Feature vectors laid out in 2-D for the digit map (PCA, UMAP or t-SNE), in this process or in
a child process at a lower priority (`project_apart`: UMAP and t-SNE take a minute or so of
the CPU for the 10,000 test digits). Imports no TensorFlow, so that child starts in a second.

References: McInnes, Healy and Melville, "UMAP: Uniform Manifold Approximation and
Projection for Dimension Reduction" (2018); Policar, Strazar and Zupan, "openTSNE: a modular
Python library for t-SNE dimensionality reduction and embedding" (2019).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import numpy as np

from model.runtime.apart import run_apart

METHODS = ("PCA", "UMAP", "t-SNE")
# UMAP's progress: up to this fraction it finds each digit's neighbours (and the first time,
# compiles its code); its layout's epochs take it from there to 1.
UMAP_NEIGHBOURS_DONE = 0.3
# UMAP's settings: neighbours, and the smallest distance between mapped points.
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.1


def project(
    values: np.ndarray, method: str, progress: Callable[[float], None] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Projects (N, D) features to 2-D. Returns {"points": (N, 2)}, and for PCA also "mean" and
    "components" (its transform), for UMAP "a" and "b" (its curve's parameters, for placing).
    `progress(fraction)` is called as t-SNE's iterations and UMAP's epochs go."""
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

        # Before the layout's epochs (which report): finding the neighbours, and compiling the first time.
        if progress is not None:
            progress(0.02)
        # A fixed seed makes UMAP single-threaded anyway; saying so keeps it from warning. Its epochs'
        # progress bar (tqdm) writes to `_Epochs`, which tells `progress`.
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=UMAP_NEIGHBOURS,
            min_dist=UMAP_MIN_DIST,
            random_state=seed,
            n_jobs=1,
            tqdm_kwds={"disable": progress is None, "file": _Epochs(progress), "mininterval": 0.5, "ascii": True},
        )
        points = reducer.fit_transform(values)
        if progress is not None:
            progress(1.0)
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


class _Epochs:
    """A file for UMAP's tqdm bar: reads "epoch n/N" from what it writes and tells `progress`."""

    def __init__(self, progress: Callable[[float], None] | None):
        self.progress = progress

    def write(self, text: str) -> None:
        found = re.findall(r"(\d+)/(\d+)", text)
        if found and self.progress is not None:
            done, total = map(int, found[-1])
            if total:
                self.progress(UMAP_NEIGHBOURS_DONE + (1 - UMAP_NEIGHBOURS_DONE) * done / total)

    def flush(self) -> None:
        pass


def project_apart(
    values: np.ndarray, method: str, progress: Callable[[float], None] | None = None
) -> dict[str, np.ndarray]:
    """`project`, computed in a child process in the background (`model.runtime.apart.run_apart`)."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    return run_apart(project, np.asarray(values, np.float32), method, progress=progress, what=f"The {method} map")
