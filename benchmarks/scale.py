"""Beyond one server (issue 33): the class load of `benchmarks.load` through the proxy of
`deploy.local`, with one replica and with several, and what one replica serves at most.

    DIGITS_REPLICAS=3 python -m benchmarks.scale [--visitors 60] [--seconds 30] [--every 3]

`python -m benchmarks --scale` measures every figure of docs/scaling.md.

Every replica runs with deploy/config.toml's settings, as the Dockerfile's do, on a registry
of the benchmark's own (it starts with the shipped version). The load starts once every
replica's digit check is ready, as on a server that has run before. A replica's capacity is measured
without the proxy: visitors draw without a pause, so the replica is always busy, and its strokes are counted against the
processor time its process tree (the forward worker among them) used meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from benchmarks.load import drawings, run_from_command_line, run_visitors, server_tree, session_on
from benchmarks.server import streamlit_server
from deploy.local import deploy_options, local_topology

# The load of issue 33: a stroke every 3 s for 30 s; and the class sizes it asks about.
SECONDS, EVERY = 30.0, 3.0
CLASSES = (30, 60, 90)
# Visitors drawing without a pause keep a replica busy (measured: 4 already do).
BUSY_VISITORS = 6


# What the Draw page says while the digit check of a version is being fitted (about a minute
# after a fresh server's first stroke; then it adds a forward pass to every stroke).
PREPARING = "is being prepared"


async def until_the_digit_check_is_ready(urls: list[str], timeout: float = 300.0) -> None:
    """Draws on each replica (straight, not through the proxy) until its Draw page no longer says
    the digit check is being prepared: the figures are those of a server past its first minute."""
    drawing = drawings(1, seed=0)[0]
    for url in urls:
        async with session_on(url) as visitor:
            deadline = time.monotonic() + timeout
            while True:
                await visitor.stroke(drawing)
                if not any(PREPARING in text for text in visitor.texts):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"The digit check of {url} was not ready within {timeout:.0f} s.")
                await asyncio.sleep(1.0)


def _cpu_seconds(pids: list[int]) -> float:
    """Processor time (user and system) the processes `pids` have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def through_proxy(
    replicas: int, visitors: int, seconds: float = SECONDS, every: float = EVERY, check_ready: bool = True
) -> dict:
    """`visitors` drawing through nginx in front of `replicas` replicas: p50/p95 of a stroke, errors,
    memory; from when the replicas' digit checks are ready unless `check_ready` is False."""
    with (
        tempfile.TemporaryDirectory(prefix="digits-scale-") as folder,
        local_topology(Path(folder) / "registry", replicas) as topology,
    ):
        ports = [replica.port for replica in topology.replicas]
        if check_ready:
            asyncio.run(until_the_digit_check_is_ready([replica.url for replica in topology.replicas]))
        measured = asyncio.run(run_visitors(topology.url, ports, visitors, seconds, every))
    return {**measured, "replicas": replicas}


def replica_capacity(seconds: float = SECONDS, visitors: int = BUSY_VISITORS) -> dict:
    """Strokes a second one busy replica serves, and strokes per second of processor time it uses."""
    with tempfile.TemporaryDirectory(prefix="digits-scale-") as folder:
        environment = {"MODEL_REGISTRY": str(Path(folder) / "registry")}
        with streamlit_server(environment, timeout=180.0, options=deploy_options()) as url:
            port = int(url.rsplit(":", 1)[1])

            async def measure() -> dict:
                await until_the_digit_check_is_ready([url])
                # Counted over a window that starts once the visitors have opened the page and are
                # drawing (as many strokes answered as there are visitors), however long opening took.
                answered: list[float] = []
                task = asyncio.create_task(run_visitors(url, [port], visitors, seconds + 4.0, 0.0, answered=answered))
                while len(answered) < visitors and not task.done():
                    await asyncio.sleep(0.1)
                pids = server_tree(port)
                cpu, started = _cpu_seconds(pids), time.perf_counter()
                await asyncio.sleep(seconds)
                cpu, ended = _cpu_seconds(pids) - cpu, time.perf_counter()
                measured = await task
                strokes = sum(started <= moment < ended for moment in answered)
                return {**measured, "window_strokes": strokes, "cpu_seconds": cpu, "wall_seconds": ended - started}

            measured = asyncio.run(measure())
    strokes = measured["window_strokes"]
    return {
        "replica_busy_visitors": visitors,
        "replica_strokes": strokes,
        "replica_errors": measured["errors"],
        "replica_p50_ms": measured["p50_ms"],
        "replica_strokes_per_s": strokes / measured["wall_seconds"],
        "replica_strokes_per_cpu_s": strokes / measured["cpu_seconds"] if measured["cpu_seconds"] else None,
        "replica_cores_used": measured["cpu_seconds"] / measured["wall_seconds"],
    }


def run(quick: bool = False, replicas: int = 3) -> dict:
    """Every figure of docs/scaling.md: one replica's capacity, then each class size with one
    replica and with `replicas` (quick: two visitors for a few seconds, with one replica and two)."""
    seconds, classes = (4.0, (2,)) if quick else (SECONDS, CLASSES)
    replicas = 2 if quick else replicas
    results = replica_capacity(seconds, 2 if quick else BUSY_VISITORS)
    for count in (1, replicas):
        for visitors in classes:
            # The quick run waits for a digit check in the replica's capacity only (a minute each).
            measured = through_proxy(count, visitors, seconds, EVERY, check_ready=not quick)
            prefix = f"scale_{count}x_{visitors}"
            for key in ("p50_ms", "p95_ms", "errors", "strokes", "rss_mb", "rss_mb_each", "pss_mb", "pss_mb_each"):
                results[f"{prefix}_{key}"] = measured[key]
            if measured["error_examples"]:
                results[f"{prefix}_error_examples"] = measured["error_examples"]
    results["scale_replicas"] = replicas
    results["scale_visitors"] = list(classes)
    if not quick:
        results["scale_60_p95_ms"] = results[f"scale_{replicas}x_60_p95_ms"]
        results["scale_90_errors"] = results[f"scale_{replicas}x_90_errors"]
    return results


def table(results: dict) -> list[str]:
    """The rows of docs/performance.md's section on replicas."""
    rows = []
    if "replica_strokes_per_s" in results:
        per_cpu = results.get("replica_strokes_per_cpu_s")
        rows.append(
            f"| one replica kept busy ({results['replica_busy_visitors']} visitors drawing without a pause): "
            f"strokes a second | {results['replica_strokes_per_s']:.1f}"
            + (f" ({per_cpu:.1f} per second of processor time)" if per_cpu else "")
            + " |"
        )
    for count in sorted({1, results.get("scale_replicas", 1)}):
        for visitors in results.get("scale_visitors", []):
            prefix = f"scale_{count}x_{visitors}"
            if results.get(f"{prefix}_p95_ms") is None:
                continue
            rows.append(
                f"| {visitors} visitors through the proxy, {count} replica{'s' if count > 1 else ''}: "
                f"p50 / p95, errors, memory of the replicas (proportional set size) | "
                f"{results[f'{prefix}_p50_ms']:.0f} / {results[f'{prefix}_p95_ms']:.0f} ms, "
                f"{results[f'{prefix}_errors']} errors, {_memory(results, prefix)} |"
            )
    return rows


def _memory(results: dict, prefix: str) -> str:
    """The replicas' memory together: their proportional set size where it was measured."""
    pss = results.get(f"{prefix}_pss_mb")
    return f"{pss / 1024:.1f} GB" if pss else f"{results[f'{prefix}_rss_mb'] / 1024:.1f} GB resident"


def main(argv=None) -> None:
    def measure(visitors: int, seconds: float, every: float) -> dict:
        return through_proxy(int(os.environ.get("DIGITS_REPLICAS", "3")), visitors, seconds, every)

    run_from_command_line("benchmarks.scale", __doc__.splitlines()[0], measure, 60, argv)


if __name__ == "__main__":
    main()
