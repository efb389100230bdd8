"""Run the tasks of one job here or on Ray actors, retrying a task whose worker died.

A *job* is an object whose methods do the work (``eval.run.Evaluation``: ``make_story``,
``read_record``). ``LocalPool`` calls them in this process, in order; ``RayPool`` builds one job per
actor (``factory(**kwargs)``, so models load once per actor, not per task) and hands tasks to idle
actors, yielding each ``Outcome`` as it arrives. Only the caller writes files.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from storyspace.distributed.config import RayConfig, validate_ray
from storyspace.errors import UserError


@dataclass(frozen=True)
class Task:
    key: str  # unique within a map, shown in progress notes
    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    task: Task
    result: Any = None
    error: str = ""  # set when the task failed on every try
    attempts: int = 1
    worker: int = -1

    @property
    def ok(self) -> bool:
        return not self.error


class LocalPool:
    """The job's methods called here, one task after the other; an exception propagates."""

    def __init__(self, job: Any) -> None:
        self.job = job

    def map(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        for task in tasks:
            yield Outcome(task, getattr(self.job, task.method)(**task.kwargs))

    def status(self) -> str:
        return ""

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Worker:
    """What a Ray actor holds: one job, built once (its models load once)."""

    def __init__(self, factory: Callable[..., Any], kwargs: dict[str, Any], threads: int, cwd: str = "") -> None:
        import torch

        if cwd and os.path.isdir(cwd):  # relative paths (models, premises) mean what they mean to the driver
            os.chdir(cwd)
        torch.set_num_threads(threads)
        self.job = factory(**kwargs)

    def run(self, method: str, kwargs: dict[str, Any]) -> Any:
        return getattr(self.job, method)(**kwargs)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A TCP connect to HOST:PORT (or ray://HOST:PORT) before Ray's own, slower, retries."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray {address!r}: expected auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"cannot reach Ray at {address}: {exc.strerror or exc}") from exc


def connect(cfg: RayConfig) -> None:
    """``ray.init`` for ``cfg.address``; one-line errors when there is no cluster there."""
    validate_ray(cfg)
    if cfg.address == "local":
        # a private one-machine cluster: Ray then keeps to loopback instead of the machine's
        # outward address (read when Ray is imported), and authenticates with a token of its
        # own, kept in this process's environment (its workers inherit it): Ray would otherwise
        # write one to ~/.ray/auth_token, which later `ray start` clusters pick up
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        if "RAY_AUTH_MODE" not in os.environ:
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    import ray

    env = cfg.runtime_env_dict()
    env_vars = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "OMP_NUM_THREADS": str(cfg.threads),
                "TOKENIZERS_PARALLELISM": "false", **env.get("env_vars", {})}
    env = {**env, "env_vars": env_vars}
    common = {"runtime_env": env, "log_to_driver": False, "logging_level": logging.ERROR,
              "configure_logging": True}
    if ray.is_initialized():
        return
    try:
        if cfg.address == "local":
            ray.init(include_dashboard=False, **common)
        else:
            if cfg.address != "auto":
                _check_reachable(cfg.address)
            ray.init(address=cfg.address, **common)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot connect to Ray at {cfg.address}: {first}") from exc


class RayPool:
    """Ray actors, each holding ``factory(**kwargs)``; see ``map``. Use as a context manager."""

    def __init__(self, cfg: RayConfig, factory: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        connect(cfg)
        import ray

        self.cfg = cfg
        self._ray = ray
        self._actor_class = ray.remote(num_cpus=cfg.cpus_per_worker, num_gpus=cfg.gpus_per_worker)(Worker)
        self._factory, self._kwargs = factory, kwargs
        self.actors: list[Any] = []
        self.doing: dict[int, str] = {}
        self.size = cfg.workers or self._fits()

    def _fits(self) -> int:
        res = self._ray.cluster_resources()
        n = int(res.get("CPU", 1) // self.cfg.cpus_per_worker)
        if self.cfg.gpus_per_worker > 0:
            n = min(n, int(res.get("GPU", 0) // self.cfg.gpus_per_worker))
        return max(1, n)

    def _spawn(self) -> Any:
        return self._actor_class.remote(self._factory, self._kwargs, self.cfg.threads, os.getcwd())

    def map(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Each task's outcome as it finishes (not in order). A task whose worker died, or that
        raised, is tried again on a fresh worker up to ``cfg.retries`` times, then yielded with
        ``error`` set."""
        from ray.exceptions import RayActorError, RayTaskError

        ray = self._ray
        pending = deque((t, 1) for t in tasks)
        while len(self.actors) < min(self.size, len(pending)):
            self.actors.append(self._spawn())
        idle = list(range(len(self.actors)))[::-1]
        running: dict[Any, tuple[int, Task, int]] = {}
        while pending or running:
            while idle and pending:
                i = idle.pop()
                task, attempt = pending.popleft()
                running[self.actors[i].run.remote(task.method, task.kwargs)] = (i, task, attempt)
                self.doing[i] = task.key
            (ref,), _ = ray.wait(list(running), num_returns=1)
            i, task, attempt = running.pop(ref)
            self.doing.pop(i, None)
            try:
                result = ray.get(ref)
            except RayActorError as exc:
                error = "worker died: " + _first_line(exc)
                self._replace(i)
            except RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                error = f"{type(cause).__name__}: {_first_line(cause)}"
            else:
                idle.append(i)
                yield Outcome(task, result, "", attempt, i)
                continue
            idle.append(i)
            if attempt <= self.cfg.retries:
                pending.appendleft((task, attempt + 1))
            else:
                yield Outcome(task, None, error, attempt, i)

    def _replace(self, i: int) -> None:
        try:
            self._ray.kill(self.actors[i])
        except Exception:  # noqa: BLE001 - it is already gone
            pass
        self.actors[i] = self._spawn()

    def status(self) -> str:
        """What each worker is doing, e.g. ``w0 p03.mcts · w1 p04.beam``."""
        return " · ".join(f"w{i} {key}" for i, key in sorted(self.doing.items()))

    def close(self) -> None:
        for a in self.actors:
            try:
                self._ray.kill(a)
            except Exception:  # noqa: BLE001
                pass
        self.actors = []
        self._ray.shutdown()

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def make_pool(cfg: RayConfig | None, job: Callable[[], Any], factory: Callable[..., Any],
              kwargs: dict[str, Any]) -> LocalPool | RayPool:
    """``RayPool(cfg, factory, kwargs)`` when Ray is asked for, else ``LocalPool(job())``."""
    if cfg is not None and cfg.enabled:
        return RayPool(cfg, factory, kwargs)
    return LocalPool(job())


def run_task(cfg: RayConfig, fn: Callable[..., Any], kwargs: dict[str, Any], gpu: bool = True) -> Any:
    """``fn(**kwargs)`` as one Ray task, with a GPU when ``gpu`` and the cluster has one (Ray
    retries it ``cfg.retries`` times if its worker dies); its exception becomes a one-line error."""
    connect(cfg)
    import ray
    from ray.exceptions import RayError

    gpus = 1 if gpu and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    remote = ray.remote(num_cpus=cfg.cpus_per_worker, num_gpus=gpus, max_retries=cfg.retries)(fn)
    try:
        return ray.get(remote.remote(**kwargs))
    except RayError as exc:
        cause = getattr(exc, "cause", None) or exc
        raise UserError(f"Ray task {getattr(fn, '__name__', fn)} failed: {_first_line(cause)}") from exc
