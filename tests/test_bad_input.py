"""Nothing a user types or keeps on disk may crash the CLI: exit code 2, one line on stderr, no
traceback, and nothing existing changed. Each case was found by trying (issue #10); none of them
needs a model, because every check runs before a model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyspace.cli import main
from storyspace.config import ExploreConfig, to_dict
from storyspace.search.tree import Tree


def write_run(path: Path, premise: str = "A lighthouse keeper finds a bottle.") -> Path:
    """A small finished explore run as ``explore`` writes it (root + 3 visited children)."""
    cfg = ExploreConfig()
    tree = Tree.new(cfg.search.depth, {"premise": premise})
    for i, (passage, value) in enumerate([("She opened it.", 0.6), ("The sea was grey.", 0.2), ("A gull cried.", 0.4)]):
        node = tree.add_child(0, {"plan": "", "passage": passage}, -1.0, value, {"value": value})
        node.visits, node.total = 1 + i, value * (1 + i)
    tree.nodes[0].visits = 6
    tree.simulations = 3
    path.mkdir(parents=True)
    meta = {"command": "explore", "premise": premise, "seed": 0, "config": to_dict(cfg), "status": "finished",
            "budget": {"simulations": 3}, "timings": {"sessions": [], "wall_s": 1.0}}
    (path / "run.json").write_text(json.dumps(meta))
    (path / "tree.json").write_text(json.dumps(tree.to_json()))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(capsys) -> str:  # noqa: ANN001
    err = capsys.readouterr().err.strip()
    assert err.startswith("storyspace: error: "), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


def refused(args: list[str], capsys, root: Path, message: str) -> None:  # noqa: ANN001
    before = snapshot(root)
    assert main(args) == 2
    assert message in one_line_error(capsys)
    assert snapshot(root) == before


def test_a_valid_hand_made_run_gives_pairs(tmp_path, capsys) -> None:  # noqa: ANN001
    run = write_run(tmp_path / "run")
    assert main(["pairs", str(run), "--out", str(tmp_path / "pairs.jsonl")]) == 0
    rows = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["chosen"] == "She opened it."  # a prefill-style run: text pairs
    assert isinstance(rows[0]["prompt"], str) and rows[0]["prompt"].rstrip().endswith("assistant")


DAMAGE = {
    "run.json not UTF-8": ("run.json", b"\xff\xfe\x00garbage", "not UTF-8"),
    "nodes = [1, 2]": ("tree.json", None, "node 0 must be a JSON object"),
    "nodes = []": ("tree.json", None, "'nodes' must be a non-empty list"),
    "visits = many": ("tree.json", None, "visits must be a whole number"),
    "no premise": ("run.json", None, "no premise"),
    "no timings": ("run.json", None, "no timings"),
    "run.json is a list": ("run.json", b"[1, 2]", "expected a JSON object"),
    "tree.json binary": ("tree.json", b"\x00\x01\x02\xff", "not UTF-8"),
    "config with a bad setting": ("run.json", None, "unknown setting"),
}


def damage(run: Path, case: str) -> None:
    name, raw, _ = DAMAGE[case]
    if raw is not None:
        (run / name).write_bytes(raw)
        return
    data = json.loads((run / name).read_text())
    if case == "nodes = [1, 2]":
        data["nodes"] = [1, 2]
    elif case == "nodes = []":
        data["nodes"] = []
    elif case == "visits = many":
        data["nodes"][1]["visits"] = "many"
    elif case == "no premise":
        del data["premise"]
    elif case == "no timings":
        del data["timings"]
    elif case == "config with a bad setting":
        data["config"]["search"]["bogus"] = 1
    (run / name).write_text(json.dumps(data))


@pytest.mark.parametrize("case", sorted(DAMAGE))
@pytest.mark.parametrize("command", ["resume", "pairs"])
def test_damaged_run_files_are_refused_and_left_alone(case, command, tmp_path, capsys) -> None:  # noqa: ANN001
    run = write_run(tmp_path / "run")
    damage(run, case)
    args = ["explore", "--resume", str(run)] if command == "resume" else [
        "pairs", str(run), "--out", str(tmp_path / "out" / "p.jsonl")]
    refused(args, capsys, tmp_path, DAMAGE[case][2])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", [(b"[]", "expected a JSON object"), (b"\x89PNG\r\n\x1a\n\x00", "not UTF-8")])
def test_damaged_eval_json_is_refused(content, message, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "eval"
    out.mkdir()
    (out / "eval.json").write_bytes(content)
    refused(["eval", "--out", str(out), "--reader", "none"], capsys, tmp_path, message)


def test_binary_calibration_file_is_refused_before_anything_is_made(tmp_path, capsys) -> None:  # noqa: ANN001
    cal = tmp_path / "cal.json"
    cal.write_bytes(b"\x00\xff\xfe binary")
    refused(["explore", "A premise", "--calibration", str(cal), "--out", str(tmp_path / "run")], capsys, tmp_path,
            "not UTF-8")
    refused(["score", str(cal), "--out", str(tmp_path / "s.jsonl"), "--calibration", str(cal)], capsys, tmp_path,
            "cannot read calibration file")


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[value.penalties]\nmeta_patterns = ["(unclosed"]\n', "not a valid regular expression"),
        ("[policy]\ntemperature = nan\n", "finite number"),
        ("[search]\nc_explore = inf\n", "finite number"),
        ("[value.penalties]\nrepeat_ngram = 0\n", "n-gram sizes"),
        ('[models]\ndtype = "int3"\n', "models.dtype"),
        ("[models.openai]\ntimeout_s = -1.0\n", "timeout_s > 0"),
    ],
)
def test_bad_settings_in_a_config_file_create_nothing(toml, message, tmp_path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "c.toml").write_text(toml)
    refused(["explore", "A premise", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")],
            capsys, tmp_path, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["explore", "A premise", "--temperature", "nan"], "finite number"),
        (["explore", "A premise", "--c-explore", "inf"], "finite number"),
        (["train", "p.jsonl", "--out", "m", "--learning-rate", "nan"], "finite number"),
        (["pairs", "r", "--out", "p.jsonl", "--min-margin=-inf"], "finite number"),
        (["loop", "--out", "l", "--learning-rate", "inf"], "finite number"),
        (["explore", "A premise", "--device", "cuda:abc"], "auto, cpu, cuda or cuda:N"),
        (["calibrate", "--device", "bogus"], "auto, cpu, cuda or cuda:N"),
        (["score", "s.jsonl", "--out", "o.jsonl", "--device", "gpu"], "auto, cpu, cuda or cuda:N"),
        (["explore", "\x00\x00\x00"], "premise is empty"),
        (["explore", "\x1b\x07\x08\x7f\x9b\r"], "premise is empty"),
        (["explore", "\u200b\u200c\u200d\ufeff\u202e"], "premise is empty"),
    ],
)
def test_bad_values_are_one_line(args, message, tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    refused(args, capsys, tmp_path, message)
    assert not any(tmp_path.iterdir())


def test_cuda_on_a_cpu_only_torch_is_refused(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    refused(["explore", "A premise", "--device", "cuda"], capsys, tmp_path, "sees no CUDA device")
    refused(["train", "p.jsonl", "--out", "m", "--device", "cuda"], capsys, tmp_path, "sees no CUDA device")


def test_output_paths_of_the_wrong_kind(tmp_path, capsys) -> None:  # noqa: ANN001
    run = write_run(tmp_path / "run")
    existing = tmp_path / "pairs.jsonl"
    existing.write_text('{"keep": "me"}\n')
    refused(["pairs", str(run), "--out", str(existing)], capsys, tmp_path, "exists (use --force")
    refused(["pairs", str(run), "--out", str(tmp_path)], capsys, tmp_path, "is a directory")
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused(["loop", "--out", str(afile)], capsys, tmp_path, "is a file")
    refused(["calibrate", "--out", str(tmp_path), "--no-judge"], capsys, tmp_path, "is a directory")
    # --force replaces the file, and only then
    assert main(["pairs", str(run), "--out", str(existing), "--force"]) == 0
    assert '"keep": "me"' not in existing.read_text()


@pytest.mark.parametrize("seed", ["0", "1"])
def test_resume_refuses_any_seed_alike(seed, tmp_path, capsys) -> None:  # noqa: ANN001
    run = write_run(tmp_path / "run")
    refused(["explore", "--resume", str(run), "--seed", seed], capsys, tmp_path, "--resume takes no other settings")


def test_interrupt_names_the_run_directory(tmp_path) -> None:  # noqa: ANN001
    from storyspace.cli.commands import saved_on_interrupt as _saved_on_interrupt
    from storyspace.errors import Interrupted

    run = write_run(tmp_path / "run")
    with pytest.raises(Interrupted, match=f"saved in {run}.*--resume {run}"):
        with _saved_on_interrupt(run):
            raise KeyboardInterrupt
    with pytest.raises(Interrupted, match="nothing was written"):
        with _saved_on_interrupt(tmp_path / "absent"):
            raise KeyboardInterrupt


def test_control_characters_never_reach_story_md_html_or_stdout(tmp_path, capsys) -> None:  # noqa: ANN001
    from storyspace.explore import best_story
    from storyspace.runs import load_run
    from storyspace.viz.html import tree_html

    nasty = "Bell\x07 \x1b[2J\x1b]0;owned\x07 \u202eevil\u202c zero\u200bwidth\x00"
    run = write_run(tmp_path / "run", premise=nasty)
    saved = load_run(run)
    saved.tree.nodes[1].step["passage"] = nasty
    md = best_story(saved.tree, saved.premise).markdown()
    html = tree_html(saved.tree, saved.premise, saved.meta)
    for text in (md, html):
        assert not any(ch in text for ch in "\x07\x1b\u202e\u202c\u200b\x00")
        assert "Bell" in text and "evil" in text
    assert main(["pairs", str(run), "--out", str(tmp_path / "p.jsonl")]) == 0
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err


@pytest.mark.parametrize("command", [["eval", "--reader", "none"], ["loop"], ["validate-value"]])
def test_stderr_is_exactly_one_line_even_where_progress_bars_would_start(command, tmp_path, capsys) -> None:  # noqa: ANN001
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*command, "--out", str(afile)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("storyspace: error: ") and err.count("\n") == 1 and err.endswith("\n")


def test_a_run_saved_before_the_learned_value_resumes_with_its_own_formula(tmp_path) -> None:  # noqa: ANN001
    from storyspace.runs import load_run

    run = write_run(tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    del meta["config"]["value"]["combine"]
    (run / "run.json").write_text(json.dumps(meta))
    assert load_run(run).config.value.combine == "product"


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit-value", "--out", "w.json", "--features", "surprisal_z,bogus"], "unknown feature(s) bogus"),
        (["fit-value", "--out", "w.json", "--folds", "1"], "--folds must be at least 2"),
        (["fit-value", "--out", "w.json", "--temperature", "0"], "--temperature > 0"),
        (["fit-value", "--out", "w.json", "--criteria", " , "], "names no HANNA rating"),
        (["fit-value", "--out", "w.json", "--stories", "3"], "--stories must be 0 (all) or at least --folds"),
        (["explore", "A premise", "--value-weights", "missing.json"], "value weights file not found"),
        (["score", "s.jsonl", "--out", "o.jsonl", "--combine", "product", "--value-weights", "missing.json"],
         "stories file not found"),
    ],
)
def test_bad_value_fitting_settings_are_one_line(args, message, tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    refused(args, capsys, tmp_path, message)
    assert not any(tmp_path.iterdir())


def test_a_file_that_is_not_readings_is_refused(tmp_path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "r.jsonl"
    bad.write_text('{"kind": "story"}\n')
    refused(["fit-value", "--out", str(tmp_path / "w.json"), "--readings", str(bad)], capsys, tmp_path,
            "is not a readings file")
    bad.write_text(json.dumps({"readings_of": "embedded", "step_tokens": 32, "contrast_words": 160, "seed": 0}) + "\n")
    refused(["fit-value", "--out", str(tmp_path / "w.json"), "--readings", str(bad)], capsys, tmp_path,
            "was read with other settings: step_tokens 32 (now 64)")
    # readings of a subset of the stories are not taken for a fit of all of them, nor the reverse
    bad.write_text(json.dumps({"readings_of": "embedded", "step_tokens": 64, "contrast_words": 160, "seed": 0,
                               "stories": 32}) + "\n")
    refused(["fit-value", "--out", str(tmp_path / "w.json"), "--readings", str(bad)], capsys, tmp_path,
            "was read with other settings: stories 32 (now None)")
    refused(["fit-value", "--out", str(tmp_path / "w.json"), "--readings", str(bad), "--stories", "16"], capsys,
            tmp_path, "was read with other settings: stories 32 (now 16)")
