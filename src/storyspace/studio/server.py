"""``storyspace studio``: serve the studio on one address until Ctrl-C."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from storyspace.errors import UserError

if TYPE_CHECKING:
    from storyspace.studio.app import Studio

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """One-line error when the address cannot be listened on (in use, or not this machine's)."""
    if not 0 < port < 65536:
        raise UserError(f"--port must lie in 1..65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def check_root(root: Path) -> Path:
    """The runs folder (made when missing); one-line error when it is a file."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    return root


def serve(root: Path, host: str, port: int, open_browser: bool, base: Any = None,
          say: Callable[[str], None] = print) -> None:
    """Run the studio until interrupted; the worker's model work stops with it (a search stopped
    mid-way keeps every round it saved)."""
    import uvicorn

    from storyspace.studio.app import Studio, create_app

    check_root(root)
    check_port(host, port)
    studio = Studio(root, base)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if not is_loopback(host):
        say(f"warning: the studio listens on {host}, not only on this machine: anyone who reaches it can start "
            "model work and change the runs under {root}".replace("{root}", str(root)))
    say(f"Storyspace Studio on {url} (runs in {root}); Ctrl-C to stop")
    if open_browser:
        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(create_app(studio), host=host, port=port, log_level="warning"))
    try:
        server.run()
    finally:
        studio.worker.close(timeout=1.0)


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port the system has free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(studio: "Studio", host: str = DEFAULT_HOST, start_s: float = 20.0) -> Iterator[str]:
    """The studio served by uvicorn in a background thread on a free port (the tests and the
    bench); its URL while inside."""
    import uvicorn

    from storyspace.studio.app import create_app

    port = free_port(host)
    server = uvicorn.Server(uvicorn.Config(create_app(studio), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the studio did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
