"""A class at once: N visitors on the Draw page of one server, each drawing a stroke every few
seconds, through Streamlit's own websocket protocol.

    python -m benchmarks.load [--visitors 30] [--seconds 60] [--every 3]

Each visitor is a websocket session that speaks what a browser speaks: it opens the Draw
page, then sends what streamlit-drawable-canvas sends when the pen lifts (the canvas's
Fabric.js objects and a PNG data URL of it, which rerun the page's fragment) and times it
until the server reports the run finished, with the new prediction among what it sent. A stroke without an answer within
10 s, or an error from the server, counts as an error. The server's memory (its process
and its children, the forward worker among them) is sampled every second: resident memory,
and the proportional set size, which counts the pages they share once.

Real browsers would be the truest visitors, but 30 headless Chromium pages take about 1.6
of this machine's 2 cores by themselves (measured), so they would measure the browsers;
`benchmarks.draw_latency` measures one real browser end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import itertools
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.server import streamlit_server

STROKE_TIMEOUT = 10.0
# The widgets whose ids a visitor records, by label.
WIDGETS = ("selectbox", "slider", "text_input", "number_input", "button", "radio", "multiselect")
# Opening the page may wait for TensorFlow to load and for the model, on a fresh server.
OPEN_TIMEOUT = 120.0


# A freehand stroke as streamlit-drawable-canvas reports it (Fabric.js 7's Path, as recorded
# from the browser); `path` and the box are filled in per stroke.
PATH = {
    **dict.fromkeys(["lockMovementX", "lockMovementY", "lockRotation", "lockScalingX", "lockScalingY"], False),
    **dict.fromkeys(["lockSkewingX", "lockSkewingY", "lockScalingFlip", "strokeUniform", "flipX", "flipY"], False),
    "type": "Path",
    "version": "7.4.0",
    "originX": "center",
    "originY": "center",
    "fill": None,
    "stroke": "#FFFFFF",
    "strokeWidth": 22,
    "strokeDashArray": None,
    "strokeLineCap": "round",
    "strokeDashOffset": 0,
    "strokeLineJoin": "round",
    "strokeMiterLimit": 10,
    "scaleX": 1,
    "scaleY": 1,
    "angle": 0,
    "opacity": 1,
    "shadow": None,
    "visible": True,
    "backgroundColor": "",
    "fillRule": "nonzero",
    "paintFirst": "fill",
    "globalCompositeOperation": "source-over",
    "skewX": 0,
    "skewY": 0,
}


def drawings(count: int, seed: int) -> list[dict]:
    """The canvas's state as it sends it after each of `count` random strokes: the Fabric.js
    objects so far, and the canvas as a PNG data URL (white ink on opaque black)."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(canvas)
    objects, states = [], []
    for _ in range(count):
        x, y = rng.uniform(40, 240), rng.uniform(40, 200)
        end_x, end_y = x + rng.uniform(-30, 30), y + 40
        pen.line([(x, y), (end_x, end_y)], fill=(255, 255, 255, 255), width=22)
        # A point every 3 px or so along the stroke, as the pen reports it.
        steps = np.linspace(0.0, 1.0, 14)
        points = [[round(float(x + (end_x - x) * t), 3), round(float(y + (end_y - y) * t), 3)] for t in steps]
        path = [["M", *points[0]], *(["Q", *a, *b] for a, b in zip(points[1:-1], points[2:])), ["L", *points[-1]]]
        box = {"left": (x + end_x) / 2, "top": (y + end_y) / 2, "width": abs(end_x - x), "height": end_y - y}
        objects.append({**PATH, **box, "path": path})
        buffer = io.BytesIO()
        canvas.save(buffer, format="PNG")
        data = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        states.append({"raw": {"version": "7.4.0", "objects": list(objects), "background": "#000000"}, "data": data})
    return states


class Visitor:
    """One websocket session on the Draw page."""

    def __init__(self, socket):
        self.socket = socket
        self.page_hash = ""
        self.canvas_id = None
        self.fragment_id = ""
        # Of the last run: each widget's id by its label, the types of the errors shown, the error messages.
        self.widgets: dict[str, str] = {}
        self.exceptions: list[str] = []
        # What each error showed beyond its type: its message and traceback ("" where nothing is shown).
        self.exception_details: list[str] = []
        self.error_messages: list[str] = []
        self.infos: list[str] = []
        self.metrics: dict[str, str] = {}
        self.texts: list[str] = []

    async def rerun(
        self,
        widget_states: list | None = None,
        fragment_id: str = "",
        page_name: str = "",
        timeout: float = STROKE_TIMEOUT,
    ) -> str:
        """Sends a rerun and reads until the run finishes (each message within `timeout` s);
        returns what was predicted ("" if nothing)."""
        message = BackMsg()
        state = message.rerun_script
        # A page's name opens that page; otherwise the page of the last run reruns.
        state.page_script_hash = "" if page_name else self.page_hash
        state.page_name = page_name
        state.fragment_id = fragment_id
        state.widget_states.widgets.extend(widget_states or [])
        await self.socket.send(message.SerializeToString())
        predicted = ""
        self.exceptions, self.exception_details, self.error_messages, self.infos, self.texts = [], [], [], [], []
        while True:
            reply = ForwardMsg()
            reply.ParseFromString(await asyncio.wait_for(self.socket.recv(), timeout))
            kind = reply.WhichOneof("type")
            if kind == "new_session" and reply.new_session.page_script_hash:
                self.page_hash = reply.new_session.page_script_hash
            elif kind == "navigation" and reply.navigation.page_script_hash:
                self.page_hash = reply.navigation.page_script_hash
            elif kind == "delta" and reply.delta.WhichOneof("type") == "new_element":
                element = reply.delta.new_element
                if element.WhichOneof("type") == "bidi_component":
                    self.canvas_id = element.bidi_component.id
                    self.fragment_id = reply.delta.fragment_id
                elif element.WhichOneof("type") == "metric":
                    self.metrics[element.metric.label] = element.metric.body
                    if element.metric.label == "Prediction":
                        predicted = element.metric.body
                elif element.WhichOneof("type") == "markdown":
                    self.texts.append(element.markdown.body)
                elif element.WhichOneof("type") == "exception":
                    self.exceptions.append(element.exception.type)
                    self.exception_details.append(
                        "\n".join([element.exception.message, *element.exception.stack_trace])
                    )
                elif element.WhichOneof("type") == "alert" and element.alert.format == element.alert.ERROR:
                    self.error_messages.append(element.alert.body)
                elif element.WhichOneof("type") in WIDGETS:
                    widget = getattr(element, element.WhichOneof("type"))
                    self.widgets[widget.label] = widget.id
                elif element.WhichOneof("type") == "alert" and element.alert.format == element.alert.INFO:
                    self.infos.append(element.alert.body)
            elif kind == "script_finished":
                if reply.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                return predicted

    async def set(self, label: str, fragment: bool = False, timeout: float = STROKE_TIMEOUT, **value) -> str:
        """Sets the widget labelled `label` (`string_value=...`, `int_value=...`, `trigger_value=True`) and reruns."""
        widget = BackMsg().rerun_script.widget_states.widgets.add()
        widget.id = self.widgets[label]
        for field, content in value.items():
            setattr(widget, field, content)
        return await self.rerun([widget], fragment_id=self.fragment_id if fragment else "", timeout=timeout)

    async def stroke(self, drawing: dict) -> str:
        widget = BackMsg().rerun_script.widget_states.widgets.add()
        widget.id = self.canvas_id
        widget.json_value = json.dumps({"drawing": drawing})
        return await self.rerun([widget], fragment_id=self.fragment_id)


def _process_table() -> dict[int, tuple[int, str, list[bytes]]]:
    """Every process's parent, resident memory and command line."""
    processes = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            command = (status.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        processes[int(status.parent.name)] = (int(fields["PPid"]), fields.get("VmRSS", "0 kB"), command)
    return processes


def server_tree(port: int, processes: dict | None = None) -> list[int]:
    """The Streamlit server on `port` and all its descendants (the forward worker among them)."""
    processes = processes if processes is not None else _process_table()
    stack = [
        pid
        for pid, (_, _, command) in processes.items()
        if b"streamlit" in command[:3] and str(port).encode() in command
    ]
    tree = []
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack += [child for child, (parent, _, _) in processes.items() if parent == pid]
    return tree


def _pss_kb(pid: int) -> int:
    """The process's proportional set size: its resident pages, each page shared with other
    processes counted in part. Summed over processes it is the memory they use together."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _memory_mb(port: int) -> tuple[float, float]:
    """Resident memory and proportional set size of the Streamlit server on `port` and all its
    descendants, in MB. Resident memory counts the pages they share with each other once for each."""
    processes = _process_table()
    tree = server_tree(port, processes)
    resident = sum(int(processes[pid][1].split()[0]) for pid in tree)
    return resident / 1024, sum(map(_pss_kb, tree)) / 1024


@contextlib.asynccontextmanager
async def session_on(url: str, page: str = "draw"):
    """A websocket session on the server at `url` that has opened `page`: its `Visitor`."""
    import websockets

    socket_url = url.replace("http://", "ws://") + "/_stcore/stream"
    async with websockets.connect(socket_url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as socket:
        visitor = Visitor(socket)
        await visitor.rerun(page_name=page, timeout=OPEN_TIMEOUT)
        yield visitor


async def _visitor(
    url: str, index: int, seconds: float, every: float, opened: asyncio.Barrier, results: dict, warm_up: bool = False
) -> None:
    # At most 40 different drawings, taken in turn: a visitor drawing without a pause needs hundreds.
    strokes = drawings(min(40, int(seconds / max(every, 0.1)) + 2), seed=index)
    try:
        # The class arrives a visitor every half second, and starts drawing once all are in.
        await asyncio.sleep(0.5 * index)
        async with session_on(url) as visitor:
            if visitor.canvas_id is None:
                raise RuntimeError("the Draw page showed no canvas")
            await opened.wait()
            # The visitors' strokes are spread over the period; each keeps its rhythm.
            await asyncio.sleep(every * index / results["visitors"])
            if warm_up:
                # One stroke each, timed apart: the whole class's first strokes come within one
                # period, before the server has seen any, which is its own figure.
                started = time.perf_counter()
                await visitor.stroke(strokes[-1])
                results["first"].append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(every)
            deadline = time.perf_counter() + seconds
            for number in itertools.count():
                if time.perf_counter() >= deadline:
                    break
                drawing = strokes[number % len(strokes)]
                planned = time.perf_counter() + every
                started = time.perf_counter()
                try:
                    predicted = await visitor.stroke(drawing)
                    if not predicted.isdigit():
                        raise RuntimeError(f"no prediction came back ({predicted!r})")
                    results["times"].append((time.perf_counter() - started) * 1000)
                    results["ends"].append(time.perf_counter())
                except (TimeoutError, RuntimeError) as error:
                    results["errors"].append(f"visitor {index}, stroke {number}: {type(error).__name__}: {error}")
                await asyncio.sleep(max(0.0, planned - time.perf_counter()))
    except Exception as error:  # The session did not open: every stroke of this visitor is lost.
        results["errors"].append(f"visitor {index}: {type(error).__name__}: {error}")
        await opened.abort()


async def run_visitors(
    url: str,
    ports: Sequence[int],
    visitors: int,
    seconds: float,
    every: float,
    warm_up: bool = False,
    answered: list[float] | None = None,
) -> dict:
    """`visitors` visitors drawing on `url` for `seconds`, a stroke every `every` seconds (0: each
    as soon as the last is answered); the memory is that of the servers on `ports`, sampled every second.
    `answered`, if given, receives the time (`time.perf_counter()`) each stroke was answered."""
    results = {
        "times": [],
        "errors": [],
        "visitors": visitors,
        "first": [],
        "ends": answered if answered is not None else [],
    }
    opened = asyncio.Barrier(visitors)
    tasks = [
        asyncio.create_task(_visitor(url, index, seconds, every, opened, results, warm_up)) for index in range(visitors)
    ]
    memory = []
    while not all(task.done() for task in tasks):
        memory.append([_memory_mb(port) for port in ports])
        await asyncio.sleep(1.0)
    times = np.array(results["times"])
    return {
        "visitors": visitors,
        "seconds": seconds,
        "stroke_every_s": every,
        "strokes": int(len(times)),
        "p50_ms": float(np.percentile(times, 50)) if len(times) else None,
        "p95_ms": float(np.percentile(times, 95)) if len(times) else None,
        "errors": len(results["errors"]),
        "error_examples": results["errors"][:5],
        # The servers' most together, and each server's most.
        "rss_mb": float(np.max(np.sum(memory, axis=1)[:, 0])) if memory else None,
        "rss_mb_each": [float(most) for most in np.max(memory, axis=0)[:, 0]] if memory else [],
        "pss_mb": float(np.max(np.sum(memory, axis=1)[:, 1])) if memory else None,
        "pss_mb_each": [float(most) for most in np.max(memory, axis=0)[:, 1]] if memory else [],
        **({"first_stroke_p95_ms": float(np.percentile(results["first"], 95))} if results["first"] else {}),
    }


def run(visitors: int = 30, seconds: float = 60.0, every: float = 3.0) -> dict:
    """Starts the app and runs the visitors against it."""
    with streamlit_server(timeout=180.0) as url:
        return asyncio.run(run_visitors(url, [int(url.rsplit(":", 1)[1])], visitors, seconds, every))


def run_from_command_line(module: str, description: str, measure, visitors: int, argv=None) -> None:
    """`python -m module --visitors N --seconds S --every E`: prints `measure(N, S, E)` as JSON."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--visitors", type=int, default=visitors, help="visitors drawing at once")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each visitor keeps drawing")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between a visitor's strokes")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(json.dumps(measure(args.visitors, args.seconds, args.every), indent=2))


def main(argv=None) -> None:
    run_from_command_line("benchmarks.load", __doc__.splitlines()[0], run, 30, argv)


if __name__ == "__main__":
    main()
