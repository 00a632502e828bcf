"""The topology of deploy/compose.yaml on this machine, without containers: nginx (Debian's
package) in front of several `streamlit run` replicas on their own ports, all sharing one
registry folder and one folder of kept digits, and a Ray cluster of two nodes (`ray start`) where
they train. The tests and `python -m benchmarks --scale`
start it; an operator can too:

    python -m deploy.local --replicas 3 --port 8080 --registry /srv/digits/models [--ray-nodes 2]

Every process it starts is stopped by its PID when it ends (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = Path(__file__).resolve().parent / "nginx.conf"


class StartError(RuntimeError):
    """A process of the topology did not start; the message says which, with its log."""


def deploy_options() -> list[str]:
    """deploy/config.toml's settings as `streamlit run` options, but for where it listens: what the
    Dockerfile's replicas run with."""
    import tomllib

    with open(Path(__file__).resolve().parent / "config.toml", "rb") as handle:
        config = tomllib.load(handle)
    options = []
    for section, settings in config.items():
        for name, value in settings.items():
            if f"{section}.{name}" not in ("server.address", "server.port", "server.headless"):
                options += [f"--{section}.{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return options


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(port: int, environment: dict, output, options: Sequence[str] = ()) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:`port`, headless, with `environment` added to this one's."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            *options,
        ],
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **environment},
    )


def wait_healthy(url: str, process: subprocess.Popen, timeout: float, log: Path | None = None) -> None:
    """Waits until `url`'s health check answers; StartError when the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise StartError(f"{' '.join(map(str, process.args[:5]))} did not start:\n{text}")
        time.sleep(0.1)


def stop(process: subprocess.Popen, wait: float = 20.0) -> None:
    """Stops a process this module started, by its PID: SIGTERM, then SIGKILL after `wait` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nginx_config(port: int, replica_ports: Sequence[int], folder: Path) -> str:
    """deploy/nginx.conf with this machine's ports, and its pid file, logs and temporary files in `folder`."""
    text = NGINX_CONF.read_text()
    servers = "".join(
        f"        server 127.0.0.1:{replica} max_fails=1 fail_timeout=10s;\n" for replica in replica_ports
    )
    text = re.sub(r"(        server app\d:8501[^\n]*\n)+", servers, text)
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    text = text.replace("worker_processes auto;", "worker_processes 1;")
    paths = "".join(
        f"    {name} {folder / name.split('_')[0]};\n"
        for name in (
            "client_body_temp_path",
            "proxy_temp_path",
            "fastcgi_temp_path",
            "uwsgi_temp_path",
            "scgi_temp_path",
        )
    )
    text = text.replace(
        "http {\n",
        f"http {{\n    access_log off;\n    error_log {folder / 'error.log'} warn;\n{paths}",
    )
    return f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\ndaemon off;\n" + text


@dataclass
class Replica:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Topology:
    """The proxy's URL, the replicas behind it and the shared folders."""

    url: str
    replicas: list[Replica]
    registry: Path
    digits: Path
    proxy: subprocess.Popen | None = None
    folder: Path = field(default_factory=Path)
    # The Ray cluster's address, when it has one.
    ray_address: str | None = None


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None)
    if found is None:
        raise StartError("nginx is not installed: apt-get install -y nginx")
    return found


def ray_binary() -> str:
    """The `ray` command of this interpreter's environment."""
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else shutil.which("ray") or "ray"


@contextlib.contextmanager
def ray_cluster(folder: Path, environment: dict, nodes: int = 2, timeout: float = 120.0) -> Iterator[str]:
    """A Ray head and `nodes - 1` more nodes on this machine, one CPU each, as compose.yaml's
    ray-head and ray-worker; yields the head's address (`RAY_ADDRESS`). Each node is a
    `ray start --block` in a process group of its own, stopped by its PID's group at the end
    (never `ray stop`, which would stop every Ray on the machine)."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats", "--block", "--node-ip-address", "127.0.0.1"]
    # Short: Ray's socket paths live under it, and a socket's path has at most 107 characters.
    temporary = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", **environment}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, temporary, True)
        for index in range(nodes):
            head = index == 0
            options = (
                ["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", str(temporary)]
                if head
                else ["--address", address]
            )
            log = stack.enter_context(open(folder / f"ray-{index + 1}.log", "wb"))
            node = subprocess.Popen(
                [ray_binary(), "start", *options, *common],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            stack.callback(_stop_group, node)
            _wait_for_nodes(address, index + 1, node, timeout, folder / f"ray-{index + 1}.log")
        yield address


def _stop_group(process: subprocess.Popen, wait: float = 5.0) -> None:
    """Stops a process this module started and every process in its group (a Ray node's raylet,
    object store and workers): SIGTERM, then SIGKILL after `wait` seconds."""
    for number in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, number)
        try:
            process.wait(timeout=wait)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(process.pid):
                time.sleep(0.2)
            if not _group_alive(process.pid):
                return
        except subprocess.TimeoutExpired:
            continue


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_nodes(address: str, count: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Waits until the cluster at `address` has `count` nodes alive; StartError otherwise."""
    check = [
        sys.executable,
        "-c",
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False);"
        "sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= int(sys.argv[2]) else 1)",
        address,
        str(count),
    ]
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is None:
            done = subprocess.run(
                check, capture_output=True, timeout=timeout, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
            )
            if done.returncode == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise StartError(f"Ray node {count} did not start:\n{text}")
        time.sleep(1.0)


@contextlib.contextmanager
def local_topology(
    registry: Path,
    replicas: int = 3,
    port: int | None = None,
    environment: dict | None = None,
    timeout: float = 180.0,
    digits: Path | None = None,
    ray_nodes: int = 0,
) -> Iterator[Topology]:
    """nginx on `port` (a free one by default) in front of `replicas` app processes sharing `registry`
    (and `digits`, by default the registry's own `.my-digits`); with `ray_nodes`, a Ray cluster of
    that many nodes, where the replicas' training runs (`RAY_ADDRESS`). Yields the topology, then
    stops every process."""
    registry.mkdir(parents=True, exist_ok=True)
    shared = {"MODEL_REGISTRY": str(registry), **({"MY_DIGITS": str(digits)} if digits else {}), **(environment or {})}
    digits = digits or registry / ".my-digits"
    with tempfile.TemporaryDirectory(prefix="digits-topology-") as temporary, contextlib.ExitStack() as stack:
        folder = Path(temporary)
        ray_address = None
        if ray_nodes:
            ray_address = stack.enter_context(ray_cluster(folder, shared, ray_nodes, timeout))
            shared["RAY_ADDRESS"] = ray_address
        started: list[Replica] = []
        for index in range(replicas):
            log = folder / f"replica-{index + 1}.log"
            output = stack.enter_context(open(log, "wb"))
            replica_port = free_port()
            process = start_app(replica_port, shared, output, deploy_options())
            stack.callback(stop, process)
            started.append(Replica(replica_port, process, log))
        for replica in started:
            wait_healthy(replica.url, replica.process, timeout, replica.log)
        port = port or free_port()
        # nginx's workers run as another user when it starts as root: they need its temporary folders.
        folder.chmod(0o755)
        (folder / "nginx.conf").write_text(nginx_config(port, [replica.port for replica in started], folder))
        proxy_log = folder / "nginx.log"
        proxy = subprocess.Popen(
            [nginx_binary(), "-c", str(folder / "nginx.conf"), "-p", str(folder)],
            stdout=stack.enter_context(open(proxy_log, "wb")),
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop, proxy)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proxy, timeout, folder / "error.log")
        yield Topology(url, started, registry, digits, proxy, folder, ray_address)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3, help="app processes behind the proxy")
    parser.add_argument("--port", type=int, default=8080, help="the proxy's port on 127.0.0.1")
    parser.add_argument("--registry", type=Path, default=ROOT / "models", help="the shared registry folder")
    parser.add_argument("--ray-nodes", type=int, default=2, help="Ray nodes where training runs (0: none)")
    args = parser.parse_args(argv)
    with local_topology(args.registry.resolve(), args.replicas, args.port, ray_nodes=args.ray_nodes) as topology:
        on = f", training on Ray at {topology.ray_address}" if topology.ray_address else ""
        print(f"Open {topology.url} ({len(topology.replicas)} replicas{on}; Ctrl-C stops them all).", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
