"""Put the Qwen 1.5B LLM judge's readings of the committed eval stories
(`results/judges/reread-llm15/<eval>.jsonl`, `storyspace score` outputs) into a study's pairs as
the judge score `llm` (the mean of its four rubric ratings, as `study create` reads an eval's own
`llm` block), so that `storyspace study report` measures that judge's agreement with the raters.

    .venv/bin/python results/strong/add_llm15.py results/strong/claims96
"""

import json
import sys
from pathlib import Path

from storyspace.judges.llm import CRITERIA

REREAD = Path(__file__).parent.parent / "judges" / "reread-llm15"

study_path = Path(sys.argv[1]) / "study.json"
study = json.loads(study_path.read_text())
readings = {}
for f in REREAD.glob("*.jsonl"):
    for line in f.read_text().splitlines():
        r = json.loads(line)
        readings[(f.stem, r["premise"].strip(), r["system"])] = r["llm"]
added = 0
for pair in study["pairs"]:
    for side in "ab":
        eval_dir, system = pair[side]["source"].rsplit(" ", 1)
        llm = readings.get((Path(eval_dir).name, pair["premise"].strip(), system))
        if llm:
            pair[side]["scores"]["llm"] = sum(float(llm[c]) for c in CRITERIA) / len(CRITERIA)
            added += 1
study_path.write_text(json.dumps(study, indent=1, ensure_ascii=False) + "\n")
print(f"{added} sides of {2 * len(study['pairs'])} given the 1.5B judge's score")
