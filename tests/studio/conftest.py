"""The studio's fixtures: a small run searched by the real embedded model (made once), copied
into each test's own folder, and the studio served on loopback by a real uvicorn server."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

PREMISE = "A lighthouse keeper finds a letter addressed to her from the future."
#: a tiny search: 4 simulations, 2 steps of 24 tokens, 2 children per expansion
TINY = {"seed": 0, "search": {"simulations": 4, "depth": 2, "children": 2}, "policy": {"step_tokens": 24}}


#: a passage stopped mid-sentence, as the token limit leaves one; its export ends at "midnight."
CUT_PASSAGE = "The lamp went dark at midnight. Then the letter began to"


def cut_off_leaf(run: Path) -> int:
    """A leaf of the run off its best path (the best leaf if it has no other), its passage made
    ``CUT_PASSAGE`` in tree.json."""
    from storyspace.runs import RunDir, load_run

    tree = load_run(run).tree
    leaves = [n.id for n in tree.nodes if not n.children and n.id]
    leaf = next((n for n in leaves if n != tree.best_leaf()), tree.best_leaf())
    tree.nodes[leaf].step["passage"] = CUT_PASSAGE
    RunDir(run).write_json(RunDir.TREE, tree.to_json())
    return leaf


def deepen(run: Path, depth: int = 6) -> None:
    """Make the saved tiny run ``depth`` steps deep (tree.json and run.json), so its stories are
    no longer finished and every further simulation writes new passages."""
    import json

    for name, key in (("tree.json", None), ("run.json", "config")):
        data = json.loads((run / name).read_text())
        if key is None:
            data["max_depth"], data["chosen"] = depth, None
        else:
            data[key]["search"]["depth"] = depth
        (run / name).write_text(json.dumps(data))


def tiny_config():  # noqa: ANN201
    from storyspace.config import ExploreConfig, build

    return build(ExploreConfig(), None, TINY)


@pytest.fixture(scope="session")
def searched_run(tmp_path_factory, pool) -> Path:  # noqa: ANN001
    from storyspace.explore import Explorer

    out = tmp_path_factory.mktemp("studio-source") / "lighthouse"
    Explorer(pool).start(PREMISE, tiny_config(), out)
    return out


@pytest.fixture
def runs_root(tmp_path: Path, searched_run: Path) -> Path:
    """A studio folder holding a copy of the searched run as ``lighthouse``."""
    root = tmp_path / "runs"
    shutil.copytree(searched_run, root / "lighthouse")
    return root


@pytest.fixture(scope="session")
def worker(pool):  # noqa: ANN001, ANN201
    """One studio worker for the session, on the tests' shared model pool."""
    from storyspace.studio.jobs import Models, Worker

    w = Worker(Models(pool))
    yield w
    w.close()


@pytest.fixture
def served(runs_root: Path, worker) -> Iterator[str]:  # noqa: ANN001
    """The studio of ``runs_root`` on a loopback port (uvicorn in a thread); its URL."""
    from storyspace.studio.app import Studio
    from storyspace.studio.server import serving

    with serving(Studio(runs_root, tiny_config(), worker=worker)) as url:
        yield url
