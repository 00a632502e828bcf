"""Heavy work in a child process in the background (nice 10 and SCHED_IDLE, as training runs),
so that the app's own process and the forward worker come first.

A first look at a version on a fresh server computes its 10,000 test digits' probabilities
and features (and for the nearest digits, the 60,000 training digits' too), and a UMAP or
t-SNE map takes a minute of the CPU. Done in the app's process, that took both cores from
every visitor's strokes (ten visitors' strokes went to p95 5.7 s while one visitor opened the
Digit map). `run_apart` runs a function in a spawned process in the background
(`background_priority`) and waits for its result without using the CPU; the function may
report progress, which reaches the caller.

    points = run_apart(project, values, "UMAP", progress=bar_update, what="The UMAP map")
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

# How much lower than the app's the child process's priority is (training's too).
NICENESS = 10


def background_priority(thread: int = 0) -> None:
    """Puts a thread (0: the calling one; a process's id: its main thread) in the background:
    nice 10, and Linux's SCHED_IDLE policy, under which it runs only when no ordinary thread
    wants the CPU. Nice alone was not enough: a scheduler weighs every thread, and a training
    run's or a map's several busy threads at nice 10 still took a third of the cores from the
    app. Threads started afterwards inherit both. Does nothing where the system does not allow it."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, thread, max(os.getpriority(os.PRIO_PROCESS, thread), NICENESS))
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))


class ApartFailed(RuntimeError):
    """The child process failed or died; the message says why."""


_main_lock = threading.Lock()


def start_without_main(process: multiprocessing.process.BaseProcess) -> None:
    """Starts a spawned process that does not run this process's `__main__` first.

    A spawned child imports the parent's main module before anything else. In a Streamlit
    server that is the page being run (Streamlit puts each script run's module there), so the
    child would run the page once more, without Streamlit; under pytest after an AppTest, a
    temporary script that fails. With an empty `__main__` while it starts, the child imports
    only what its target needs."""
    with _main_lock:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            sys.modules["__main__"] = main


def run_apart(
    target: Callable[..., Any], *args, progress: Callable[[float], None] | None = None, what: str = "The work"
) -> Any:
    """`target(*args, progress=...)` in a child process in the background (a module-level function, so the
    child can import it); `progress` is called here, in the caller's thread, which meanwhile only
    waits. Raises ApartFailed, beginning with `what`, when the child fails or dies."""
    # The target travels by name: the child imports its module (TensorFlow, seconds of CPU) only
    # once its priority is lowered. Passed as the function itself, it would be imported while the
    # child reads its arguments, at the app's priority, and `start` would wait for that.
    return _in_child((target.__module__, target.__qualname__), args, progress, what)


def _in_child(named: tuple[str, str], args: tuple, progress: Callable[[float], None] | None, what: str) -> Any:
    """`run_apart`'s work: starts the child, sends it the arguments, relays its progress and
    returns its result. (The pages' tests replace this with a call in their own thread, see
    tests/conftest.py; the process itself is tested in tests/model.)"""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    # The arguments (megabytes of images) go through our own pipe once the child runs: a child
    # that dies early then breaks that pipe, where `start` would wait on it for ever.
    child = context.Process(target=_child, args=(theirs, named), name="apart", daemon=True)
    start_without_main(child)
    background_priority(child.pid)
    theirs.close()
    try:
        ours.send(args)
    except OSError as error:
        child.join(5)
        ours.close()
        raise ApartFailed(f"{what} could not start (exit code {child.exitcode}): {error}") from None
    ended = f"{what} ended without a result: its process stopped"
    try:
        while True:
            if not ours.poll(1.0):
                if not child.is_alive() and not ours.poll():
                    raise ApartFailed(f"{ended} (exit code {child.exitcode}).")
                continue
            try:
                kind, content = ours.recv()
            except EOFError:
                raise ApartFailed(f"{ended} (exit code {child.exitcode}).") from None
            if kind == "progress" and progress is not None:
                progress(content)
            elif kind == "done":
                return content
            elif kind == "failed":
                raise failed(what, content)
    finally:
        ours.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def call_named(named: tuple[str, str], args: tuple, progress: Callable[[float], None]) -> Any:
    """`module.name(*args, progress=progress)` for `named` = (module, name): how a child runs its target."""
    module, name = named
    return getattr(importlib.import_module(module), name)(*args, progress=progress)


def described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def failed(what: str, description: str) -> ApartFailed:
    return ApartFailed(f"{what} could not be computed: {description}")


def _child(connection, named: tuple[str, str]) -> None:
    """The child process: lowers its priority (if `run_apart` has not yet), imports and runs the
    target, sends progress and the result."""
    # Every thread (Linux sets priorities per thread): those numpy started while the arguments
    # were read began at the app's priority; the threads started from now on inherit this one's.
    with contextlib.suppress(OSError):
        for thread in os.listdir("/proc/self/task"):
            background_priority(int(thread))
    try:
        args = connection.recv()
        result = call_named(named, args, lambda fraction: connection.send(("progress", fraction)))
    except Exception as error:  # Sent to the parent, which raises it as ApartFailed.
        connection.send(("failed", described(error)))
    else:
        connection.send(("done", result))
    finally:
        connection.close()
