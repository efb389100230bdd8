"""Run-directory files are written atomically and with ordinary permissions."""

import os
import stat

import pytest

from storyspace.errors import UserError
from storyspace.runs import RunDir
from storyspace.files import atomic_write


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path) -> None:  # noqa: ANN001
    target = tmp_path / "a" / "run.json"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_run_dir_create_and_open(tmp_path) -> None:  # noqa: ANN001
    run = RunDir.create(tmp_path / "new")
    run.write_json(RunDir.RUN, {"x": 1})
    assert RunDir.open(run.path).read_json(RunDir.RUN) == {"x": 1}
    with pytest.raises(UserError, match="not empty"):
        RunDir.create(run.path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        RunDir.create(tmp_path / "file")
    (run.path / RunDir.TREE).write_text("{broken")
    with pytest.raises(UserError, match="cannot read"):
        run.read_json(RunDir.TREE)
