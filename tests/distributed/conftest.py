"""A real local Ray cluster for the tests: ``ray start --head --block`` on 127.0.0.1 with its own
ports and temp dir, 2 CPUs, stopped (its whole process group) at the end."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Ray turns 127.0.0.1 into the machine's outward address unless told it runs as a one-machine
#: cluster: with this, every Ray process listens and talks on loopback only. The cluster and its
#: drivers share a token of their own (not ~/.ray/auth_token, which another cluster may have left).
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
                "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def worker_range_start(taken: list[int], width: int = 200) -> int:
    """A free port whose range of ``width`` worker ports holds none of ``taken`` (Ray refuses a
    worker range that overlaps another component's port: seen once in CI, by chance)."""
    while True:
        lo = free_ports(1)[0]
        if lo + width <= 65535 and not any(lo <= p <= lo + width for p in taken):
            return lo


def ray_processes(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (e.g. ``ray::Worker``, a temp dir)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                continue
    return out


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):  # noqa: ANN001, ANN201
    """The GCS address (HOST:PORT) of a fresh local cluster."""
    temp = Path("/tmp") / f"ss-ray-{os.getpid()}"  # Ray's socket paths must stay short
    ports = free_ports(7)
    gcs, client, manager, objects, agent, metrics, env_agent = ports
    lo = worker_range_start(ports)
    ray = str(Path(sys.executable).with_name("ray"))
    cmd = [ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
           "--num-cpus", "2", "--num-gpus", "0", "--temp-dir", str(temp), "--include-dashboard=false",
           "--disable-usage-stats", "--ray-client-server-port", str(client), "--node-manager-port", str(manager),
           "--object-manager-port", str(objects), "--dashboard-agent-listen-port", str(agent),
           "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(env_agent),
           "--min-worker-port", str(lo), "--max-worker-port", str(lo + 200)]
    log = open(tmp_path_factory.mktemp("ray") / "ray_start.log", "w")
    proc = subprocess.Popen(cmd, env={**os.environ, **LOOPBACK_ENV}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", gcs), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, f"ray start ended: {Path(log.name).read_text()[-2000:]}"
            time.sleep(0.5)
    time.sleep(3)  # the raylet registers after the GCS answers
    yield f"127.0.0.1:{gcs}"
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in ray_processes(str(temp)) + ray_processes(f":{gcs}"):  # anything that left the group
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    log.close()
    subprocess.run(["rm", "-rf", str(temp)], check=False)
