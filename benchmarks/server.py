"""Running `streamlit run app.py` on a free localhost port, for the browser test and the cold-start benchmark."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from deploy.local import StartError, free_port, start_app, stop, wait_healthy

CHROMIUM = Path("/usr/bin/chromium")
# Chromium here needs these: no sandbox as root, and no calls to the closed network.
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# The app did not start; the message holds its log.
ServerError = StartError


@contextlib.contextmanager
def streamlit_server(
    env: dict | None = None, timeout: float = 120.0, log: Path | None = None, options: Sequence[str] = ()
) -> Iterator[str]:
    """Starts the app, waits until its health check answers, yields its URL, then stops it by its PID.

    `options` are more `streamlit run` options, such as `--secrets.files PATH`.
    """
    port = free_port()
    with open(log, "wb") if log else contextlib.nullcontext(subprocess.DEVNULL) as output:
        process = start_app(port, env or {}, output, options)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, process, timeout, log)
            yield url
        finally:
            stop(process)
