"""How it learned: the server's time to show a frame when the slider moves, over every frame of a
real run's snapshots (the `fast` preset, trained here), twice round. Each step is a whole rerun
of the page in AppTest, so it includes reading the cached snapshots and the page's top as well
as the frame's fragment: an upper bound of what a slider move costs. The visitor's fair share
(pages/ui/fair_share.py) is lifted, as its wait is not the frame's cost."""

from __future__ import annotations

import os
import tempfile
import time
from unittest import mock

import numpy as np
from streamlit.testing.v1 import AppTest

from deploy.local import ROOT
from model.store.registry import publish_version
from pages.ui import fair_share
from training.config import preset
from training.snapshots import recorder_for
from training.train import train

APP = str(ROOT / "app.py")


def run(data, rounds: int = 2, train_size: int | None = None) -> dict:
    """Trains `fast` (on `train_size` images, else the preset's) with snapshots into a fresh registry,
    then moves the slider over every frame `rounds` times."""
    with tempfile.TemporaryDirectory() as registry, mock.patch.dict(os.environ, {"MODEL_REGISTRY": registry}):
        recorder = recorder_for(data[1])
        config = preset("fast") if train_size is None else preset("fast").replace(train_size=train_size)
        model, metadata = train(config, data, [recorder])
        version = publish_version(model, metadata, "replayed", snapshots=recorder.arrays())
        app = AppTest.from_file(APP, default_timeout=300).run()
        app.session_state["app_chosen_version"] = version.id
        app.switch_page("pages/how_it_learned.py").run()
        frames = int(app.slider(key="learned_slider").max) + 1
        times = []
        with mock.patch.object(fair_share, "RATE", 1e9):
            for _ in range(rounds):
                for frame in range(frames):
                    start = time.perf_counter()
                    app.slider(key="learned_slider").set_value(frame).run()
                    times.append(time.perf_counter() - start)
                    if app.exception:
                        raise RuntimeError(f"How it learned failed: {app.exception[0].value}")
    return {
        "replay_frames": frames,
        "replay_frame_p50_ms": float(np.percentile(times, 50)) * 1000,
        "replay_frame_p90_ms": float(np.percentile(times, 90)) * 1000,
    }
