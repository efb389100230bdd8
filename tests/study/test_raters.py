"""File-based raters on hand-made studies: comparisons chosen from several evals, blind items out,
verdicts in (all or nothing), the per-comparison report, and ``study rate`` through a real
llama-cpp-python server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyspace.cli import main
from storyspace.errors import UserError
from storyspace.study.create import StudyConfig, create_study, load_study
from storyspace.study.raters import export_items, import_verdicts, instruction, load_key
from storyspace.study.rate import parse_verdict, rate_study, render_item
from storyspace.study.ratings import append_rating, read_ratings
from storyspace.study.report import comparison_rows, study_report
from tests.test_bad_input import write_run

SYSTEMS = ("single", "best-of-n", "mcts")


def write_eval(path: Path, premises: range, systems=SYSTEMS, draw: str | None = None) -> Path:  # noqa: ANN001
    path.mkdir(parents=True)
    rows = []
    for pi in premises:
        for si, system in enumerate(systems):
            row = {"premise_id": pi, "premise": f"Premise {pi}.", "system": system,
                   "story": f"Story {pi} by {system}{draw or ''}.", "value": {"value_mean": 0.1 * si}}
            if draw is not None:
                row["draw"] = draw
            rows.append(row)
    (path / "stories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def both_orders_study(tmp_path: Path, n: int = 3) -> Path:
    ev = write_eval(tmp_path / "eval", range(n))
    create_study([ev], tmp_path / "study", StudyConfig(pairs=0, systems="single", focus="mcts", both_orders=True))
    return tmp_path / "study"


def test_comparisons_across_evals_with_tags_focus_and_draws(tmp_path: Path) -> None:
    base = write_eval(tmp_path / "base", range(4))                           # premises 0-3, three systems
    other = write_eval(tmp_path / "other", range(4), systems=("mcts",))      # MCTS with other settings
    study = create_study([base, Path(f"{other}@deep")], tmp_path / "s",
                         StudyConfig(pairs=0, systems="single,best-of-n", focus="mcts@deep"))
    assert study["available"] == 8 and len(study["pairs"]) == 8              # 4 premises x 2 comparisons
    assert {p["comparison"] for p in study["pairs"]} == {"mcts@deep vs single", "mcts@deep vs best-of-n"}
    assert all(p["a"]["system"] == "mcts@deep" and p["a"]["text"].endswith("mcts.") for p in study["pairs"])
    # every two of the named systems, side a the one named first
    pairs = create_study([base], tmp_path / "s2", StudyConfig(pairs=0, systems="mcts,single,best-of-n"))["pairs"]
    assert {p["comparison"] for p in pairs} == {"mcts vs single", "mcts vs best-of-n", "single vs best-of-n"}
    # the same premise in two draws pairs within each draw only
    s0 = write_eval(tmp_path / "d0", range(2), ("p0", "p2"), draw="s0")
    s1 = write_eval(tmp_path / "d1", range(2), ("p0", "p2"), draw="s1")
    drawn = create_study([s0, s1], tmp_path / "s3", StudyConfig(pairs=0, focus="p2"))["pairs"]
    assert len(drawn) == 4 and all(p["a"]["text"][-3:] == p["b"]["text"][-3:] for p in drawn)
    listed = create_study([base], tmp_path / "s2b", StudyConfig(pairs=0, comparisons="mcts vs single; best-of-n vs single"))
    assert [p["comparison"] for p in listed["pairs"]].count("best-of-n vs single") == 4 and len(listed["pairs"]) == 8
    for bad in ("mcts vs mcts", "mcts single", "mcts vs beam"):
        with pytest.raises(UserError, match="--comparisons"):
            create_study([base], tmp_path / "s2c", StudyConfig(comparisons=bad))
    with pytest.raises(UserError, match="without --systems"):
        create_study([base], tmp_path / "s2c", StudyConfig(comparisons="mcts vs single", focus="mcts"))
    with pytest.raises(UserError, match="no stories of beam"):
        create_study([base], tmp_path / "s4", StudyConfig(systems="single,beam"))
    with pytest.raises(UserError, match="in two sources"):
        create_study([base, base], tmp_path / "s5", StudyConfig())
    with pytest.raises(UserError, match="eval directories"):
        create_study([write_run(tmp_path / "run")], tmp_path / "s6", StudyConfig(systems="x"))


def test_export_is_blind_keeps_the_key_and_splits_both_orders(tmp_path: Path) -> None:
    d = both_orders_study(tmp_path, n=3)
    got = export_items(d, "reader", tmp_path / "out" / "items.jsonl", parts=2)
    assert got["items"] == 6 and got["kinds"] == ["stories"]
    files = [Path(f) for f in got["files"]]
    assert [f.name for f in files] == ["items.1.jsonl", "items.2.jsonl"]
    items = [[json.loads(x) for x in f.read_text().splitlines()] for f in files]
    key = load_key(d, "reader")["items"]
    study = load_study(d)
    for part in items:
        assert len(part) == 3
        for item in part:
            assert set(item) == {"id", "kind", "premise", "A", "B"}           # nothing names a system or order
            assert not any(p["id"] in item["id"] for p in study["pairs"]) and item["id"] in key
        assert len({key[i["id"]]["pair"] for i in part}) == 3                 # a pair's two showings: two files
    texts = {(key[i["id"]]["pair"], key[i["id"]]["left"]): (i["A"], i["B"]) for part in items for i in part}
    for (pid, left), (a, b) in texts.items():
        pair = next(p for p in study["pairs"] if p["id"] == pid)
        assert (a, b) == (pair[left]["text"], pair["b" if left == "a" else "a"]["text"])
        assert texts[(pid, "b" if left == "a" else "a")] == (b, a)           # the other order: sides swapped
    with pytest.raises(UserError, match="inside the study directory"):
        export_items(d, "reader", d / "items.jsonl")
    assert "Never tie" in instruction("stories") and "Open only this instruction" in instruction("passages")


def test_import_maps_sides_and_writes_nothing_on_a_bad_line(tmp_path: Path) -> None:
    d = both_orders_study(tmp_path, n=2)
    export_items(d, "reader", tmp_path / "items.jsonl")
    items = [json.loads(x) for x in (tmp_path / "items.jsonl").read_text().splitlines()]
    key = load_key(d, "reader")["items"]
    good = [{"id": i["id"], "better": "A", "confidence": 4, "score_a": 7, "score_b": 3} for i in items]
    bad_lines = [
        ({"id": "nope", "better": "A"}, "not one of reader's items"),
        ({"id": items[0]["id"], "better": "tie"}, "no ties"),
        ({"id": items[0]["id"], "better": "B", "score_a": 11, "score_b": 2}, "between 1 and 10"),
        ({"id": items[0]["id"], "better": "B", "confidence": "sure"}, "must be a number"),
    ]
    for line, message in bad_lines:
        (tmp_path / "v.jsonl").write_text("".join(json.dumps(v) + "\n" for v in [*good[1:], line]))
        with pytest.raises(UserError, match=message):
            import_verdicts(d, tmp_path / "v.jsonl", "reader", "llm")
        assert read_ratings(d) == []                                           # nothing half-written
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(v) + "\n" for v in good[:3]))
    assert import_verdicts(d, tmp_path / "v.jsonl", "reader", "llm") == {"imported": 3, "left": 1}
    rows = read_ratings(d)
    for row, v in zip(rows, good):
        shown = key[v["id"]]
        assert row["kind"] == "llm" and row["left"] == shown["left"] and row["choice"] == shown["left"]  # A = left
        assert row["scores"] == {shown["left"]: 7.0, "b" if shown["left"] == "a" else "a": 3.0}
    with pytest.raises(UserError, match="already rated"):
        import_verdicts(d, tmp_path / "v.jsonl", "reader", "llm")
    assert len(read_ratings(d)) == 3
    # the export of what is left holds the one unrated showing
    assert export_items(d, "reader", tmp_path / "rest.jsonl")["items"] == 1


def test_report_per_comparison(tmp_path: Path) -> None:
    d = both_orders_study(tmp_path, n=4)
    study = load_study(d)
    ids = [p["id"] for p in study["pairs"]]
    rows = []
    # rater r1: mcts (side a) on pairs 0-2 in both orders, pair 3 once each way (inconsistent)
    for k, pid in enumerate(ids):
        for left in "ab":
            choice = "a" if k < 3 else left
            append_rating(study, d, "r1", pid, choice, left, kind="llm")
    # rater r2: mcts on every pair, in one order only
    for pid in ids:
        append_rating(study, d, "r2", pid, "a", "a")
    rows = read_ratings(d)
    (comp,) = comparison_rows(study, rows)
    assert comp["comparison"] == "mcts vs single" and comp["pairs"] == 4
    # per pair: three at 1.0, the fourth (r1 split, r2 a) at 2/3
    assert comp["win_a"] == pytest.approx((3 + 2 / 3) / 4, abs=1e-4)
    assert (comp["wins_a"], comp["decided"]) == (4, 4) and comp["sign_p"] == pytest.approx(0.125)
    assert comp["consistency"] == 0.75 and comp["swapped"] == 4
    assert comp["rater_agreement"] == pytest.approx((3 + 0.5) / 4)         # a split verdict agrees half
    assert comp["score_sd"] is None                                           # no scores given
    report = study_report(d)
    assert report["kinds"] == {"r1": "llm", "r2": "person"} and report["both_orders"]
    text = (d / "report.md").read_text()
    assert "r1 (llm)" in text and "| mcts vs single | 4 | 0.92 |" in text


def test_score_difference_in_pooled_sd(tmp_path: Path) -> None:
    d = both_orders_study(tmp_path, n=3)
    export_items(d, "reader", tmp_path / "items.jsonl")
    items = [json.loads(x) for x in (tmp_path / "items.jsonl").read_text().splitlines()]
    key = load_key(d, "reader")["items"]
    study = load_study(d)
    order = {p["id"]: k for k, p in enumerate(study["pairs"])}
    verdicts = []
    for i in items:  # side a (mcts) scores 6, 7, 8 by pair; side b 4, 4, 7; each showing alike
        k = order[key[i["id"]]["pair"]]
        sa, sb = (6, 7, 8)[k], (4, 4, 7)[k]
        left_is_a = key[i["id"]]["left"] == "a"
        verdicts.append({"id": i["id"], "better": "A" if left_is_a else "B",
                         "score_a": sa if left_is_a else sb, "score_b": sb if left_is_a else sa})
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    import_verdicts(d, tmp_path / "v.jsonl", "reader", "llm")
    (comp,) = comparison_rows(study, read_ratings(d))
    import statistics

    pooled = ((statistics.variance([6, 7, 8]) + statistics.variance([4, 4, 7])) / 2) ** 0.5
    assert comp["score_sd"] == pytest.approx(round(2 / pooled, 3))
    assert (comp["score_a"], comp["score_b"], comp["median_a"], comp["median_b"]) == (7.0, 5.0, 7.0, 4.0)
    assert comp["win_a"] == 1.0 and comp["consistency"] == 1.0


def test_study_cli_export_import_and_their_refusals(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    d = both_orders_study(tmp_path, n=2)
    items = tmp_path / "items.jsonl"
    assert main(["study", "export", str(d), "--rater", "ann", "--out", str(items)]) == 0
    assert "4 items for ann" in capsys.readouterr().out
    verdicts = tmp_path / "v.jsonl"
    verdicts.write_text("".join(json.dumps({"id": json.loads(x)["id"], "better": "B"}) + "\n"
                                for x in items.read_text().splitlines()))
    assert main(["study", "import", str(d), str(verdicts), "--rater", "ann"]) == 0
    assert "4 ratings by ann (person)" in capsys.readouterr().out
    for args in (["study", "export", str(d), "--rater", "ann"],               # no --out
                 ["study", "import", str(d), "--rater", "ann"],                # no file
                 ["study", "import", str(d), str(verdicts), "--rater", "bob"],  # bob exported nothing
                 ["study", "import", str(d), str(tmp_path / "none.jsonl"), "--rater", "ann"],
                 ["study", "report", str(d), "--rater", "ann"],
                 ["study", "rate", str(d), "--rater", "llamacpp:embedded"],
                 ["study", "create", "--from", str(tmp_path / "eval"), "--out", str(tmp_path / "s9"),
                  "--systems", "single", "--focus", "beam"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("storyspace: error: ") and "\n" not in err, err


def test_parse_verdict_reads_json_and_bare_answers() -> None:
    assert parse_verdict('{"better": "B", "confidence": 4, "score_a": 3, "score_b": 8}') == \
        {"better": "B", "confidence": 4, "score_a": 3, "score_b": 8}
    assert parse_verdict('Sure. {"better": "a", "score_a": 42}') == {"better": "A"}  # out of range: dropped
    assert parse_verdict("Better: B, because...") == {"better": "B"}
    assert parse_verdict(" A. ") == {"better": "A"}
    assert parse_verdict("I cannot decide.") is None
    text = render_item({"id": "i1", "kind": "passages", "premise": "P", "story_so_far": "", "A": "x", "B": "y"})
    assert "Passage A:\nx" in text and "(the story has not begun)" in text


@pytest.mark.slow
def test_rate_reads_every_item_through_a_real_openai_server(tmp_path: Path) -> None:
    from storyspace.models.local_server import LlamaServer

    d = both_orders_study(tmp_path, n=2)
    with LlamaServer() as server:
        got = rate_study(d, server.spec)
        assert got["rater"] == "openai:smollm2" and got["imported"] + got["unparsed"] == 4
        assert got["imported"] >= 1
        rows = read_ratings(d)
        assert len(rows) == got["imported"] and all(r["kind"] == "llm" and r["rater"] == "openai:smollm2"
                                                    for r in rows)
        again = rate_study(d, server.spec)                                    # resumes: only the unparsed left
        assert again["imported"] + again["unparsed"] == got["unparsed"]
    report = study_report(d)
    assert report["comparisons"][0]["pairs"] == 2 and report["kinds"] == {"openai:smollm2": "llm"}


def test_random_sibling_pairs_ignore_the_values_and_are_seeded(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    with pytest.raises(UserError, match="no pair"):  # extremes: 0.6 - 0.2 is under the margin
        create_study([run], tmp_path / "s0", StudyConfig(min_margin=0.5))
    seen = set()
    for seed in range(8):
        study = create_study([run], tmp_path / f"s{seed + 1}", StudyConfig(pairing="random", min_margin=0.9, seed=seed))
        (pair,) = study["pairs"]
        assert pair["kind"] == "siblings" and pair["depth"] == 1 and pair["context"] == []
        assert pair["a"]["text"] != pair["b"]["text"] and {pair["a"]["node"], pair["b"]["node"]} <= {1, 2, 3}
        seen.add((pair["a"]["node"], pair["b"]["node"]))
        again = create_study([run], tmp_path / f"t{seed}", StudyConfig(pairing="random", seed=seed))["pairs"][0]
        assert (again["a"]["node"], again["b"]["node"]) == (pair["a"]["node"], pair["b"]["node"])
    assert len(seen) > 1  # not always the same two


def test_all_sibling_pairs_take_every_two_children_with_sides_drawn(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    sides = set()
    for seed in range(6):
        study = create_study([run], tmp_path / f"s{seed}", StudyConfig(pairing="all", pairs=0, min_margin=0.9, seed=seed))
        nodes = [(p["a"]["node"], p["b"]["node"]) for p in study["pairs"]]
        assert study["available"] == 3 and len(nodes) == 3  # 3 children: every two of them, the values ignored
        assert {frozenset(n) for n in nodes} == {frozenset(x) for x in ((1, 2), (1, 3), (2, 3))}
        assert all(p["depth"] == 1 and p["context"] == [] and p["kind"] == "siblings" for p in study["pairs"])
        sides.update(nodes)
    assert len(sides) > 3  # the sides are drawn, not always the lower node first
