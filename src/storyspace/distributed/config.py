"""``RayConfig``: where the work goes and how it is split (``--ray``, or ``[ray]`` in the TOML).

Not part of any run's saved settings: results do not depend on how the work is spread, so a run
started on one machine may be resumed on a cluster and the other way round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from storyspace.errors import UserError
from storyspace.flags import flag


@dataclass(frozen=True)
class RayConfig:
    """- ``address``: ``""`` = no Ray (the work runs here, in this process); ``auto`` = the cluster
      this machine's ``ray start`` joined; ``HOST:PORT`` = a cluster's GCS address (what
      ``ray start --head`` prints); ``ray://HOST:PORT`` = a Ray client server; ``local`` = start a
      private Ray on this machine for this command alone.
    - ``workers``: actors (each loads its own models once); 0 = as many as the cluster's CPUs
      (GPUs when ``gpus_per_worker`` > 0) allow.
    - ``cpus_per_worker``, ``gpus_per_worker``: what each actor reserves.
    - ``threads``: torch threads inside each actor (1: one core per actor).
    - ``retries``: how often a task whose worker died (or that raised) is tried again on a fresh
      worker; after that it is recorded as failed.
    - ``runtime_env``: a Ray runtime environment as JSON (``{"env_vars": {...}}``, ``pip``, ...);
      ``HF_HUB_OFFLINE`` and the thread count are always passed on.
    """

    address: str = field(default="", metadata=flag("--ray", "Ray cluster for the work (auto, HOST:PORT, ray://..., "
                                                           "local); empty = no Ray", metavar="ADDRESS"))
    workers: int = field(default=0, metadata=flag("--ray-workers", "Ray actors; 0 = as many as the cluster fits"))
    cpus_per_worker: float = field(default=1.0, metadata=flag("--ray-cpus", "CPUs each Ray actor reserves"))
    gpus_per_worker: float = field(default=0.0, metadata=flag("--ray-gpus", "GPUs each Ray actor reserves"))
    threads: int = field(default=1, metadata=flag("--ray-threads", "torch threads in each Ray actor"))
    retries: int = field(default=2, metadata=flag("--ray-retries", "retries of a task whose worker died"))
    runtime_env: str = field(default="", metadata=flag("--ray-runtime-env", "Ray runtime environment as JSON",
                                                       metavar="JSON"))

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def runtime_env_dict(self) -> dict:
        if not self.runtime_env:
            return {}
        try:
            env = json.loads(self.runtime_env)
        except json.JSONDecodeError as exc:
            raise UserError(f"--ray-runtime-env is not JSON: {exc.msg}") from exc
        if not isinstance(env, dict):
            raise UserError("--ray-runtime-env must be a JSON object")
        return env


def validate_ray(cfg: RayConfig) -> None:
    """One-line errors for settings that cannot work (checked before anything starts)."""
    if cfg.workers < 0 or cfg.retries < 0:
        raise UserError("--ray-workers and --ray-retries must be >= 0")
    if cfg.cpus_per_worker <= 0 or cfg.gpus_per_worker < 0 or cfg.threads < 1:
        raise UserError("--ray-cpus must be > 0, --ray-gpus >= 0 and --ray-threads >= 1")
    cfg.runtime_env_dict()
