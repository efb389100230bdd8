"""``validate-judges``: the table's arithmetic on hand-made readings, and real judges end to end."""

from __future__ import annotations

import json
import math

import pytest
from scipy.stats import spearmanr

from storyspace.cli import main
from storyspace.contrast import CORRUPTIONS
from storyspace.errors import UserError
from storyspace.eval.judges import (
    Judge,
    contrast_agreement,
    JudgesConfig,
    hanna_agreement,
    judge_summary,
    judges_markdown,
    pair_contrast_agreement,
    pair_hanna_agreement,
    pair_retest_noise,
    pair_rows,
    parse_judges,
    read_readings,
    retest_noise,
    retest_rows,
    story_key,
)


def reading(row: dict, **scores: float) -> tuple[str, dict]:
    return story_key(row), {"key": story_key(row), "scores": scores, "seconds": 1.0}


def test_judges_are_parsed_and_bad_lists_refused() -> None:
    judges = parse_judges("value, reader:llamacpp:gemma3-270m,llm:embedded,length,pair:embedded")
    assert [j.name for j in judges] == ["value", "reader:llamacpp:gemma3-270m", "llm:embedded", "length", "pair:embedded"]
    assert [j.main_key for j in judges] == ["value_mean", "value_mean", "overall", "words", "x_score"]
    assert judges[1].slug == "reader_llamacpp_gemma3-270m"
    for bad, why in [("", "no judge"), ("value:embedded", "takes no model"), ("length:x", "takes no model"), ("reader", "needs a model"),
                     ("judge:x", "is not value"), ("value,value", "twice"), ("pair", "needs a model")]:
        with pytest.raises(UserError, match=why):
            parse_judges(bad)


def test_hanna_agreement_counts_pairs_over_the_gap_and_ties_half() -> None:
    # human Coherence 1, 2, 4: pairs over a gap of 1: (1,2), (1,4), (2,4)
    rows = [{"suite": "hanna", "id": i, "version": "", "human_coherence": h} for i, h in enumerate((1.0, 2.0, 4.0))]
    readings = dict(reading(r, value_mean=v) for r, v in zip(rows, (0.1, 0.3, 0.2)))
    got = hanna_agreement(rows, readings, min_gap=1.0)["value_mean"]["Coherence"]
    # (1,2): 0.1 < 0.3 right; (1,4): 0.1 < 0.2 right; (2,4): 0.3 > 0.2 wrong
    assert got["pairs"] == 3 and got["agreement"] == pytest.approx(2 / 3)
    assert got["rho"] == pytest.approx(0.5)
    readings = dict(reading(r, value_mean=v) for r, v in zip(rows, (0.1, 0.2, 0.2)))
    assert hanna_agreement(rows, readings, 1.0)["value_mean"]["Coherence"]["agreement"] == pytest.approx(2.5 / 3)
    # a gap of 2 leaves (1,4) and (2,4)
    assert hanna_agreement(rows, readings, 2.0)["value_mean"]["Coherence"]["pairs"] == 2


def test_contrast_agreement_by_corruption() -> None:
    rows = [{"suite": "contrast", "id": i, "version": v} for i in (1, 2) for v in ("original", *CORRUPTIONS)]
    scores = {(1, "original"): 0.5, (2, "original"): 0.5, (1, "loop"): 0.4, (2, "loop"): 0.6,
              (1, "meta"): 0.5, (2, "meta"): 0.1}
    readings = dict(reading(r, overall=scores.get((r["id"], r["version"]), 0.0)) for r in rows)
    got = contrast_agreement(rows, readings, "overall")
    assert got["loop"] == {"agreement": 0.5, "pairs": 2}
    assert got["meta"] == {"agreement": 0.75, "pairs": 2}  # one tie (half) and one win
    assert got["shuffled"] == {"agreement": 1.0, "pairs": 2}
    del readings[story_key(rows[0])]  # story 1's original unread: its pairs drop out
    assert contrast_agreement(rows, readings, "overall")["loop"] == {"agreement": 0.0, "pairs": 1}


def eval_rows(values: dict[tuple[int, str], float]) -> list[dict]:
    return [{"premise": f"Premise {p}.", "system": s, "story": f"story {p} {s} {v}"} for (p, s), v in values.items()]


def test_retest_noise_over_all_and_within_a_premise() -> None:
    a = eval_rows({(p, s): 0 for p in range(3) for s in ("single", "mcts")})
    b = list(reversed(a))  # another order: matched by premise and system, not by line
    rows = retest_rows(a, b + [{"premise": "Only in B.", "system": "single", "story": "x"}])
    assert len(rows) == 12 and {r["version"] for r in rows} == {"a", "b"}
    # seed A: mcts above single on every premise; seed B the same, premises in another order
    va = {(0, "single"): 0.1, (0, "mcts"): 0.3, (1, "single"): 0.5, (1, "mcts"): 0.55, (2, "single"): 0.3, (2, "mcts"): 0.4}
    vb = {(0, "single"): 0.5, (0, "mcts"): 0.9, (1, "single"): 0.1, (1, "mcts"): 0.12, (2, "single"): 0.3, (2, "mcts"): 0.35}
    readings = dict(reading(r, value_mean=(va if r["version"] == "a" else vb)[(r["premise_index"], r["system"])])
                    for r in rows)
    got = retest_noise(rows, readings, "value_mean")
    assert got["n"] == 6 and got["rho_within"] == pytest.approx(1.0)
    keys = [(p, s) for p in range(3) for s in ("single", "mcts")]
    assert got["rho"] == pytest.approx(spearmanr([va[k] for k in keys], [vb[k] for k in keys])[0])
    assert math.isnan(retest_noise(rows[:4], readings, "value_mean")["rho"])
    with pytest.raises(UserError, match="share no"):
        retest_rows(a, [{"premise": "Else.", "system": "single", "story": "x"}])
    with pytest.raises(UserError, match="twice"):
        retest_rows(a + a[:1], b)
    with pytest.raises(UserError, match="'premise'"):
        retest_rows([{"system": "x", "story": "y"}], b)


def test_retest_rows_keep_the_passages_the_eval_read() -> None:
    a = [{"premise": "P.", "system": "mcts", "story": "One. Two.", "passages": ["One.", "", "Two."]}]
    b = [{"premise": "P.", "system": "mcts", "story": "One. Two."}]
    ra, rb = retest_rows(a, b)
    assert ra["passages"] == ["One.", "Two."]  # empty passages dropped, as the eval's reading skips them
    assert "passages" not in rb  # no passages: the judge cuts the story into steps


def test_summary_and_table_show_every_judge() -> None:
    rows = [{"suite": "hanna", "id": i, "version": "", "human_surprise": float(i)} for i in range(4)]
    readings = dict(reading(r, overall=float(r["id"]), parsed=True) for r in rows[:3])
    readings["hanna/3/"] = {"key": "hanna/3/", "error": "story too long"}
    s = judge_summary(Judge("llm", "embedded"), rows, readings, 1.0)
    assert (s["read"], s["errors"], s["unparsed"]) == (3, 1, 0)
    assert s["hanna"]["overall"]["Surprise"]["agreement"] == 1.0
    assert "parsed" not in s["hanna"]  # booleans are not scores
    text = judges_markdown([s], 1.0)
    assert "| llm:embedded (overall) |" in text and "1.000" in text


def story_rows() -> list[dict]:
    """Four HANNA stories (Coherence 1, 2, 4, 4.5; Surprise 3 for all), one contrast story and its
    corruptions, and two seeds of two premises' eval stories."""
    rows = [{"suite": "hanna", "id": i, "version": "", "prompt": f"P{i}.", "story": f"s{i}",
             "human_coherence": c, "human_surprise": 3.0} for i, c in enumerate((1.0, 2.0, 4.0, 4.5))]
    rows += [{"suite": "contrast", "id": 0, "version": v, "prompt": "P0.", "story": v} for v in ("original", *CORRUPTIONS)]
    a = eval_rows({(p, s): 0 for p in range(2) for s in ("single", "mcts", "best-of-n")})
    return rows + retest_rows(a, a)


def test_pair_rows_draw_hanna_pairs_over_the_gap_and_pair_originals_and_systems() -> None:
    rows = story_rows()
    pairs = pair_rows(rows, JudgesConfig(pairs=100))
    hanna = [p for p in pairs if p["suite"] == "hanna"]
    # Coherence gaps >= 1: (0,1), (0,2), (0,3), (1,2), (1,3); (2,3) is 0.5 apart and Surprise ties
    assert sorted(tuple(sorted((p["x"]["id"], p["y"]["id"]))) for p in hanna) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]
    contrast = [p for p in pairs if p["suite"] == "contrast"]
    assert [p["version"] for p in contrast] == list(CORRUPTIONS)
    assert all(p["x"]["version"] == "original" and p["y"]["version"] == p["version"] for p in contrast)
    retest = [p for p in pairs if p["suite"] == "retest"]
    assert [(p["id"], p["version"]) for p in retest] == [(f"{i}:mcts|best-of-n", v) for i in range(2) for v in "ab"]
    assert all(p["x"]["system"] == "mcts" and p["y"]["system"] == "best-of-n" for p in retest)
    assert [p["suite"] for p in pairs] == ["contrast"] * 8 + ["retest"] * 4 + ["hanna"] * 5  # the short pairs first
    two = [p for p in pair_rows(rows, JudgesConfig(pairs=2)) if p["suite"] == "hanna"]
    assert len(two) == 2 and two == [p for p in pair_rows(rows, JudgesConfig(pairs=2)) if p["suite"] == "hanna"]
    assert len({story_key(p) for p in pairs}) == len(pairs)
    for bad in ("mcts", "mcts,mcts", "mcts,"):
        with pytest.raises(UserError, match="--pair-systems"):
            pair_rows(rows, JudgesConfig(pair_systems=bad))


def test_pair_judge_arithmetic_on_hand_made_readings() -> None:
    rows = story_rows()
    pairs = pair_rows(rows, JudgesConfig(pairs=100))

    def reading_of(p: dict, x: float, bias: bool = False) -> tuple[str, dict]:
        return story_key(p), {"key": story_key(p), "scores": {"x_score": x, "position_bias": bias}, "seconds": 2.0}

    # HANNA: the judge prefers the story with the lower id, i.e. the less coherent one, except 0.5 on (1, 2)
    def hanna_x(p: dict) -> float:
        if {p["x"]["id"], p["y"]["id"]} == {1, 2}:
            return 0.5
        return 0.8 if p["x"]["id"] < p["y"]["id"] else 0.2

    contrast_x = {"loop": 0.9, "copy": 0.6, "shuffled": 0.5, "meta": 0.1}
    readings = dict(reading_of(p, hanna_x(p) if p["suite"] == "hanna" else contrast_x.get(p["version"], 0.7)
                               if p["suite"] == "contrast" else {"0": 0.2, "1": 0.9}[p["id"][0]] + (0.05 if p["version"] == "b" else 0),
                               bias=p["suite"] == "contrast")
                    for p in pairs)
    got = pair_hanna_agreement(pairs, readings, min_gap=1.0)["x_score"]
    # 5 pairs over the gap: 4 wrong (the less coherent preferred) and one 0.5 (half)
    assert got["Coherence"]["pairs"] == 5 and got["Coherence"]["agreement"] == pytest.approx(0.5 / 5)
    assert got["Coherence"]["n"] == 5 and got["Coherence"]["rho"] < 0
    assert got["Surprise"]["pairs"] == 0 and math.isnan(got["Surprise"]["agreement"])  # every Surprise gap is 0
    con = pair_contrast_agreement(pairs, readings)
    assert con["loop"] == {"agreement": 1.0, "pairs": 1} and con["meta"] == {"agreement": 0.0, "pairs": 1}
    assert con["shuffled"] == {"agreement": 0.5, "pairs": 1} and con["splice"] == {"agreement": 1.0, "pairs": 1}
    noise = pair_retest_noise(pairs, readings)
    assert noise["n"] == 2 and math.isnan(noise["rho"]) and math.isnan(noise["rho_within"])  # two premises: too few
    s = judge_summary(Judge("pair", "embedded"), pairs, readings, 1.0)
    assert (s["read"], s["errors"], s["position_bias"], s["key"]) == (len(pairs), 0, 8, "x_score")
    assert s["hanna"]["x_score"]["Coherence"]["agreement"] == pytest.approx(0.1)
    text = judges_markdown([s], 1.0)
    assert "| pair:embedded (x_score) |" in text and "same letter in both orders on 8 of 17 pairs" in text


@pytest.mark.slow
def test_validate_judges_reads_with_real_judges_and_resumes(tmp_path, capsys) -> None:  # noqa: ANN001
    stories = [{"premise": "A lighthouse keeper finds a message in a bottle.", "system": s,
                "story": f"The keeper opened the bottle. Inside was a note about the {w}. She read it twice."}
               for s, w in (("single", "storm"), ("mcts", "ship"), ("beam", "lamp"))]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in stories))
    b.write_text("".join(json.dumps({**r, "story": r["story"] + " Then she smiled."}) + "\n" for r in stories))
    out = tmp_path / "judges"
    args = ["validate-judges", "--judges", "length,value,llm:llamacpp:embedded", "--n-stories", "3", "--contrast-stories", "1",
            "--contrast-words", "50", "--retest", str(a), str(b), "--out", str(out), "--quiet"]
    assert main(args) == 0
    summary = json.loads((out / "judges.json").read_text())
    assert [s["judge"] for s in summary] == ["length", "value", "llm:llamacpp:embedded"]
    for s in summary:
        assert s["read"] == 3 + 9 + 6 and s["errors"] == 0
        assert s["retest"]["n"] == 3
        assert all(v["pairs"] == 1 for v in s["contrast"].values())
    words = read_readings(out / "length.jsonl")
    assert words["retest/0:mcts/a"]["scores"]["words"] == len(stories[1]["story"].split())
    llm = read_readings(out / "llm_llamacpp_embedded.jsonl")
    assert all(1 <= r["scores"]["overall"] <= 10 and r["scores"]["method"] == "probabilities" for r in llm.values())
    assert (out / "judges.png").stat().st_size > 0 and "| value (value_mean) |" in (out / "judges.md").read_text()
    before = (out / "value.jsonl").read_text()
    capsys.readouterr()
    assert main(args) == 0  # resumed: nothing read again, the same table
    assert (out / "value.jsonl").read_text() == before
    assert json.loads((out / "judges.json").read_text()) == summary


@pytest.mark.slow
def test_a_real_pair_judge_reads_pairs_both_ways(tmp_path) -> None:  # noqa: ANN001
    stories = [{"premise": f"A lighthouse keeper finds a message in bottle {k}.", "system": s,
                "story": f"The keeper opened bottle {k}. Inside was a note about the {w}. She read it twice."}
               for k in range(3) for s, w in (("single", "storm"), ("mcts", "ship"))]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in stories))
    b.write_text("".join(json.dumps({**r, "story": r["story"] + " Then she smiled."}) + "\n" for r in stories))
    out = tmp_path / "judges"
    assert main(["validate-judges", "--judges", "pair:llamacpp:embedded", "--n-stories", "4", "--pairs", "1",
                 "--contrast-stories", "1", "--contrast-words", "40", "--pair-systems", "mcts,single",
                 "--retest", str(a), str(b), "--out", str(out), "--quiet"]) == 0
    (s,) = json.loads((out / "judges.json").read_text())
    assert s["judge"] == "pair:llamacpp:embedded" and s["read"] == 1 + 8 + 6 and s["errors"] == 0
    assert all(v["pairs"] == 1 for v in s["contrast"].values()) and s["retest"]["n"] == 3
    assert s["hanna"] == {}  # one HANNA pair (two whole stories, each under its prompt): too few for a figure
    read = read_readings(out / "pair_llamacpp_embedded.jsonl")
    assert len(read) == 15 and sum(k.startswith("hanna/") for k in read) == 1
    assert all(0.0 <= r["scores"]["x_score"] <= 1.0 for r in read.values())
    assert all(len(r["scores"]["raw"]) == 2 for r in read.values())  # P(A) in both orders
    assert "reads pairs, not stories" in (out / "judges.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--judges", "value,oops:x"], "is not value"),
    (["--judges", "reader:nope"], "unknown model spec"),
    (["--min-gap", "0"], "--min-gap must be a positive"),
    (["--judges", "pair:embedded", "--pair-systems", "mcts"], "--pair-systems: two different system names"),
    (["--pairs", "0"], "--pairs must be positive"),
    (["--judges", "value", "--retest", "/no/a.jsonl", "/no/b.jsonl"], "retest file not found"),
    (["--judges", "file:/no/ratings.jsonl"], "ratings file not found"),
    (["--judges", "file"], "file needs a path"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message) -> None:  # noqa: ANN001
    assert main(["validate-judges", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_kept_readings_are_not_read_again_and_load_no_model(tmp_path) -> None:  # noqa: ANN001
    from storyspace.eval.judges import read_all

    rows = [{"suite": "hanna", "id": str(i), "version": "", "prompt": "P.", "story": "a b c" * (i + 1)} for i in range(3)]
    path = tmp_path / "length.jsonl"
    made = []
    got = read_all(lambda: made.append(1), rows, path, 64)  # the length judge: no model (None)
    assert made == [1] and [got[story_key(r)]["scores"]["words"] for r in rows] == [3, 5, 7]

    def no_model() -> None:
        raise AssertionError("a model was made with nothing left to read")

    assert read_all(no_model, rows, path, 64) == got
    assert len(path.read_text().splitlines()) == 3


def test_a_file_judge_reads_ratings_made_elsewhere(tmp_path, capsys) -> None:  # noqa: ANN001
    from storyspace.corpus import human_stories

    stories = human_stories()[:12]
    ratings = tmp_path / "ratings.jsonl"
    # a rater whose overall score is HANNA's own Coherence mean, and whose surprise runs against Surprise
    ratings.write_text("".join(json.dumps({"suite": "hanna", "id": s["id"], "scores": {
        "overall": s["human_coherence"], "surprise": -s["human_surprise"]}}) + "\n" for s in stories))
    out = tmp_path / "o"
    assert main(["validate-judges", "--judges", f"file:{ratings},length", "--n-stories", "12",
                 "--contrast-stories", "1", "--out", str(out), "--quiet"]) == 0
    got = {s["judge"]: s for s in json.loads((out / "judges.json").read_text())}
    mine = got[f"file:{ratings}"]
    assert mine["read"] == 12 and mine["key"] == "overall"
    assert mine["hanna"]["overall"]["Coherence"]["agreement"] == 1.0
    assert mine["hanna"]["surprise"]["Surprise"]["agreement"] == 0.0
    assert not (out / f"{got[f'file:{ratings}']['judge']}.jsonl").exists()  # read from its file, not copied
    capsys.readouterr()
    ratings.write_text('{"suite": "hanna", "id": 0, "scores": {"overall": "good"}}\n')
    assert main(["validate-judges", "--judges", f"file:{ratings}", "--out", str(out)]) == 2
    assert "every score must be a number" in capsys.readouterr().err
