"""A class with a hostile visitor (`python -m benchmarks --hostile`, or `python -m benchmarks.hostile`):
35 visitors drawing in public mode while a training run trains, the operator computes a UMAP map,
and one visitor, in three tabs, does what issue 29's items 1-3 did to a class, at once.
docs/hostile-visitors.md lists every run.
"""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.proto.BackMsg_pb2 import BackMsg

from benchmarks.load import OPEN_TIMEOUT, Visitor, drawings, run_from_command_line, run_visitors
from benchmarks.server import streamlit_server
from deploy.local import deploy_options
from model.runtime.apart import background_priority

PASSWORD = "load-test-operator"
# Item 1: 60,000 values pasted into a sweep's box (0.4 MB; the box's max_chars binds only the browser).
FLOOD = ",".join(str(value) for value in range(60_000))


def noisy_drawing(seed: int = 0) -> dict:
    """A drawing whose canvas is grey noise under one stroke: a raw drawing no compression shrinks,
    so each Keep takes as much of the visitor's budget as a drawing can."""
    state = drawings(1, seed)[0]
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (280, 280, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[100:180, 130:150, :3] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return {**state, "data": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}


async def _session(url: str, page: str, timeout: float = OPEN_TIMEOUT):
    import websockets

    socket = await websockets.connect(
        url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"], max_size=None, open_timeout=60
    )
    visitor = Visitor(socket)
    await visitor.rerun(page_name=page, timeout=timeout)
    return visitor


async def _flood_the_sweep(url: str, deadline: float, report: dict) -> None:
    """Item 1: the sweep's two value boxes, filled with 60,000 values again and again."""
    visitor = await _session(url, "retrain")
    widget = BackMsg().rerun_script.widget_states.widgets.add()
    widget.id = visitor.widgets["Settings"]
    widget.string_array_value.data.extend(["learning_rate", "batch_size"])
    await visitor.rerun([widget])
    boxes = [label for label in visitor.widgets if label.startswith("Values of")]
    report["sweep_boxes"] = len(boxes)
    while time.perf_counter() < deadline and boxes:
        for label in boxes:
            started = time.perf_counter()
            await visitor.set(label, string_value=FLOOD + f",{report['sweep_floods']}", timeout=60)
            report["sweep_floods"] += 1
            report["sweep_seconds"].append(time.perf_counter() - started)
    report["sweep_exceptions"] = visitor.exceptions
    await visitor.socket.close()


async def _fill_my_digits(url: str, deadline: float, report: dict) -> None:
    """Item 2: Keep, Keep, Keep a noisy drawing until the session's budget refuses it, then go on."""
    visitor = await _session(url, "draw")
    await visitor.stroke(noisy_drawing())
    while time.perf_counter() < deadline:
        await visitor.set("Keep as one of my digits", trigger_value=True, timeout=60)
        refused = [message for message in visitor.error_messages if "at most" in message]
        if refused:
            report["keeps_refused"] += 1
            report["refusal"] = refused[0]
        else:
            report["keeps"] += 1
    # What the session holds in the end, as My digits says it.
    await visitor.rerun(page_name="my_digits", timeout=60)
    report["digits_kept"] = visitor.metrics.get("Your digits")
    report["digits_budget"] = next((text for text in visitor.texts if "MB used" in text), None)
    await visitor.socket.close()


async def _ask_for_maps(url: str, deadline: float, report: dict) -> None:
    """Item 3: the UMAP and t-SNE maps, asked for again and again."""
    visitor = await _session(url, "digit_map")
    while time.perf_counter() < deadline:
        for method in ("UMAP", "t-SNE"):
            await visitor.set("Projection", string_value=method, timeout=120)
            report["map_requests"] += 1
            report["maps_refused"] += any("not been computed" in info for info in visitor.infos)
    await visitor.socket.close()


async def _operator_map(url: str, report: dict) -> None:
    """The operator computes the UMAP map meanwhile (laid out in the background, see model/runtime/apart.py)."""
    visitor = await _session(url, "digit_map")
    await visitor.set("Password", string_value=PASSWORD)
    await visitor.set("Unlock", trigger_value=True)
    started = time.perf_counter()
    await visitor.set("Projection", string_value="UMAP", timeout=600)
    report["operator_map_s"] = time.perf_counter() - started
    report["operator_map_errors"] = visitor.exceptions + visitor.error_messages
    await visitor.socket.close()


async def _hostile_run(url: str, port: int, visitors: int, seconds: float, every: float) -> dict:
    report = {
        "sweep_floods": 0,
        "sweep_seconds": [],
        "keeps": 0,
        "keeps_refused": 0,
        "map_requests": 0,
        "maps_refused": 0,
    }
    # The class first opens its pages; the hostile visitor starts once they draw.
    deadline = time.perf_counter() + 0.5 * visitors + 2 * every + seconds
    class_run = asyncio.create_task(run_visitors(url, [port], visitors, seconds, every, warm_up=True))
    await asyncio.sleep(0.5 * visitors + 2 * every)
    attacks = [_flood_the_sweep, _fill_my_digits, _ask_for_maps]
    attacks = [asyncio.create_task(attack(url, deadline, report)) for attack in attacks]
    operator = asyncio.create_task(_operator_map(url, report))
    measured = await class_run
    outcomes = await asyncio.gather(*attacks, operator, return_exceptions=True)
    report["attack_failures"] = [f"{type(outcome).__name__}: {outcome}" for outcome in outcomes if outcome is not None]
    times = report.pop("sweep_seconds")
    report["sweep_flood_p50_s"] = float(np.percentile(times, 50)) if times else None
    return {**measured, "hostile": report}


def run_hostile(visitors: int = 35, seconds: float = 60.0, every: float = 3.0) -> dict:
    """The class of `run`, in public mode, while a training run trains (the `standard` recipe on
    every core in the background, as the Retrain page starts it), the operator computes a UMAP map, and one hostile
    visitor, in three tabs, floods the sweep's boxes, fills their digits and asks for every map."""
    with tempfile.TemporaryDirectory() as folder:
        secrets = Path(folder) / "secrets.toml"
        secrets.write_text(f'operator_password = "{PASSWORD}"\n')
        env = {"DIGITS_PUBLIC": "1", "MODEL_REGISTRY": str(Path(folder) / "registry")}
        training_log = open(Path(folder) / "training.log", "wb")  # noqa: SIM115 - closed below.
        training = subprocess.Popen(
            [sys.executable, "-m", "training.cli", "--preset", "standard", "--out", str(Path(folder) / "run")],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=training_log,
            stderr=subprocess.STDOUT,
            preexec_fn=background_priority,
        )
        try:
            options = ["--secrets.files", str(secrets), *deploy_options()]
            with streamlit_server(env, timeout=180.0, options=options) as url:
                result = asyncio.run(_hostile_run(url, int(url.rsplit(":", 1)[1]), visitors, seconds, every))
            result["training_still_running"] = training.poll() is None
            result["training_exit_code"] = training.poll()
        finally:
            training.kill()
            training.wait()
            training_log.close()
            result_log = (Path(folder) / "training.log").read_text(errors="replace").strip().splitlines()
        result["training_log_tail"] = result_log[-3:]
    return result


def main(argv=None) -> None:
    run_from_command_line("benchmarks.hostile", __doc__.splitlines()[0], run_hostile, 35, argv)


if __name__ == "__main__":
    main()
