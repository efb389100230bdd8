"""The reader-pairs loop's held-out single-pass stories as eval-format `stories.jsonl` files, one
per seed, beside the value loop's policies 0 and 2 of the same premises and seeds
(`results/strong/loop/s0`, `s1`), so that `storyspace study create` pairs them by premise and seed.

    .venv/bin/python results/loop/reader/sources.py LOOP_DIR    # writes results/loop/reader/s0, s1

System names: `reader1` (this loop's policy 1, trained on the blind reader's sibling choices),
`policy0` and `policy2` (the value loop's, as committed). This loop's own policy 0 stories are
compared with the committed ones (the same seeds: they should be the same texts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
COMMITTED = HERE.parent.parent / "strong" / "loop"


def main() -> None:
    loop = Path(sys.argv[1])
    same = differ = 0
    for seed in ("s0", "s1"):
        rows = [json.loads(x) for x in (COMMITTED / seed / "stories.jsonl").read_text().splitlines() if x.strip()]
        by_key = {(r["key"], r["system"]): r for r in rows}
        for rec_path in sorted((loop / "eval" / "policy1" / "single").glob("*.json")):
            key = rec_path.stem
            if key.endswith(".s1") != (seed == "s1"):
                continue
            rec = json.loads(rec_path.read_text())
            mine0 = json.loads((loop / "eval" / "policy0" / "single" / rec_path.name).read_text())
            old0 = by_key.get((key, "policy0"))
            if old0 is None or old0["premise"] != rec["premise"]:
                raise SystemExit(f"{key}: no committed policy0 story of the same premise")
            same, differ = (same + 1, differ) if mine0["passages"] == old0["passages"] else (same, differ + 1)
            rows.append({"premise": rec["premise"], "system": "reader1", "draw": seed, "key": key,
                         "story": rec["story"], "passages": rec["passages"]})
        out = HERE / seed / "stories.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows))
        print(out, len(rows))
    print(f"this loop's policy 0 stories equal to the committed ones: {same} of {same + differ}")


if __name__ == "__main__":
    main()
