"""``--ray`` settings and addresses: one-line errors, before any model loads; no Ray without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from storyspace.cli import main
from storyspace.distributed.config import RayConfig, validate_ray
from storyspace.distributed.pool import LocalPool, Task, connect, make_pool
from storyspace.errors import UserError
from tests.distributed.conftest import free_ports


@pytest.mark.parametrize("cfg, message", [
    (RayConfig(address="auto", workers=-1), "--ray-workers"),
    (RayConfig(address="auto", cpus_per_worker=0), "--ray-cpus"),
    (RayConfig(address="auto", threads=0), "--ray-threads"),
    (RayConfig(address="auto", runtime_env="{nope"), "not JSON"),
    (RayConfig(address="auto", runtime_env="[1]"), "JSON object"),
])
def test_bad_settings_are_one_line_errors(cfg: RayConfig, message: str) -> None:
    with pytest.raises(UserError, match=message):
        validate_ray(cfg)


def test_an_unreachable_or_malformed_address_is_one_line(capsys) -> None:  # noqa: ANN001
    port = free_ports(1)[0]  # nothing listens there
    with pytest.raises(UserError, match=f"cannot reach Ray at 127.0.0.1:{port}"):
        connect(RayConfig(address=f"127.0.0.1:{port}"))
    with pytest.raises(UserError, match="expected auto, local, HOST:PORT"):
        connect(RayConfig(address="nowhere"))


def test_eval_with_an_unreachable_cluster_exits_2_at_once(tmp_path, capsys) -> None:  # noqa: ANN001
    port = free_ports(1)[0]
    code = main(["eval", "--out", str(tmp_path / "e"), "--ray", f"ray://127.0.0.1:{port}", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "cannot reach Ray" in err
    assert not (tmp_path / "e").exists()  # nothing started, nothing written


def test_local_pool_runs_tasks_in_order_here() -> None:
    class Job:
        def double(self, x: int) -> int:
            return 2 * x

    pool = make_pool(None, Job, Job, {})
    assert isinstance(pool, LocalPool)
    got = [(o.task.key, o.result, o.ok) for o in pool.map([Task(str(i), "double", {"x": i}) for i in range(3)])]
    assert got == [("0", 0, True), ("1", 2, True), ("2", 4, True)]


def test_without_ray_nothing_imports_it() -> None:
    code = ("import sys; import storyspace.cli.commands, storyspace.eval.run, storyspace.distributed.explore_many; "
            "from storyspace.cli.parser import build_parser; build_parser(); assert 'ray' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.slow
def test_a_local_ray_keeps_to_loopback_and_writes_no_token_file(tmp_path) -> None:  # noqa: ANN001
    """``--ray local``: a private cluster on 127.0.0.1 with a token of its own, none left in ~/.ray."""
    code = ("from storyspace.distributed.config import RayConfig; from storyspace.distributed.pool import connect; "
            "connect(RayConfig(address='local')); import ray; "  # Ray reads its settings when imported
            "ip = ray.util.get_node_ip_address(); ray.shutdown(); assert ip == '127.0.0.1', ip")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    short = tempfile.mkdtemp(dir="/tmp", prefix="ssr-")  # Ray's socket paths must stay short
    try:
        done = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(tmp_path), "RAY_TMPDIR": short},
                              capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / ".ray" / "auth_token").exists()
