"""The blind reader's validation on HANNA: its 1-5 ratings of the 96 HANNA human stories.

    .venv/bin/python results/strong/hanna_items.py items /tmp/strong/items   # hanna.1-4.jsonl
    (each file read by one helper with storyspace/data/reader/ratings.md; verdicts to hanna.K.jsonl)
    .venv/bin/python results/strong/hanna_items.py collect /tmp/strong/verdicts

`items` writes four items files (ids only: an opaque id, the prompt, the story); each story is in
two of them, in different orders, so two readers rate it independently. The key (opaque id ->
HANNA story id) stays in `results/strong/hanna/key.json`. `collect` checks the verdicts, keeps
them (`results/strong/hanna/verdicts.jsonl`) and writes the mean of the two readings per story
and criterion as a `file:` judge's readings (`results/strong/hanna/readings.jsonl`), which
`storyspace validate-judges --judges file:results/strong/hanna/readings.jsonl` sets beside the
other judges.
"""

import hashlib
import json
import random
import secrets
import sys
from pathlib import Path

from storyspace.corpus import human_stories

HERE = Path(__file__).parent / "hanna"
KEYS = ("relevance", "coherence", "empathy", "surprise", "engagement", "complexity", "overall")


def items(out: Path) -> None:
    stories = human_stories()
    salt = secrets.token_hex(16)
    key = {}
    rows = []
    for s in stories:
        item_id = "h" + hashlib.sha256(f"{salt}|{s['id']}".encode()).hexdigest()[:10]
        key[item_id] = s["id"]
        rows.append({"id": item_id, "kind": "ratings", "premise": s["prompt"], "story": s["human_story"]})
    rng = random.Random(0)
    rng.shuffle(rows)
    halves = [rows[: len(rows) // 2], rows[len(rows) // 2:]]
    parts = [list(halves[0]), list(halves[1]), list(halves[0]), list(halves[1])]
    for k in (2, 3):
        rng.shuffle(parts[k])
    out.mkdir(parents=True, exist_ok=True)
    for k, part in enumerate(parts, 1):
        (out / f"hanna.{k}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "key.json").write_text(json.dumps({"salt": salt, "items": key}, indent=1) + "\n")
    print(f"{len(parts)} items files of {len(halves[0])} / {len(halves[1])} stories in {out}; key in {HERE}")


def collect(verdicts: Path) -> None:
    key = json.loads((HERE / "key.json").read_text())["items"]
    kept, by_story = [], {}
    for k in range(1, 5):
        path = verdicts / f"hanna.{k}.jsonl"
        seen = set()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            v = json.loads(line)
            if v.get("id") not in key or v["id"] in seen:
                sys.exit(f"{path}:{n}: unknown or repeated id {v.get('id')!r}")
            seen.add(v["id"])
            bad = [c for c in KEYS if not isinstance(v.get(c), (int, float))
                   or not (1 <= v[c] <= (10 if c == "overall" else 5))]
            if bad:
                sys.exit(f"{path}:{n}: {', '.join(bad)} missing or out of range")
            kept.append({"reader": f"part{k}", "hanna_id": key[v["id"]], **{c: v[c] for c in ("id", *KEYS)}})
            by_story.setdefault(key[v["id"]], []).append(v)
    (HERE / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    rows = [{"suite": "hanna", "id": sid, "scores": {c: sum(v[c] for v in vs) / len(vs) for c in KEYS},
             "readings": len(vs)} for sid, vs in sorted(by_story.items())]
    (HERE / "readings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    twice = [vs for vs in by_story.values() if len(vs) == 2]
    print(f"{len(kept)} verdicts, {len(rows)} stories ({len(twice)} read twice) -> {HERE / 'readings.jsonl'}")
    for c in KEYS:
        diffs = [abs(vs[0][c] - vs[1][c]) for vs in twice]
        if diffs:
            print(f"  {c}: the two readings equal on {sum(d == 0 for d in diffs) / len(diffs):.2f},"
                  f" within 1 on {sum(d <= 1 for d in diffs) / len(diffs):.2f}")


if __name__ == "__main__":
    {"items": items, "collect": collect}[sys.argv[1]](Path(sys.argv[2]))
