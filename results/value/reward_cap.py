"""In-sample agreement of the shipped weights with and without the reward cap on the fit's saved
readings: HANNA rating pairs, step and story contrasts, and each HANNA criterion.

    storyspace fit-value --readings R.jsonl --out /tmp/w.json   # makes R.jsonl once (~30 min)
    .venv/bin/python results/value/reward_cap.py R.jsonl
"""
import itertools
import json
import sys
from pathlib import Path
from storyspace.value.fit import FitConfig, pair_agreement, story_value
from storyspace.value.fit_data import FeatureSettings, load_items, make_pairs, features_of, HANNA_CRITERIA
from storyspace.value.config import ValueConfig
from storyspace.value.model import load_calibration
from storyspace.value.learned import load_weights
d = json.loads(Path('src/storyspace/data/value/embedded.json').read_text())
cfg = FitConfig(**d["made_by"]["settings"])
items = load_items(Path(sys.argv[1]), "embedded", cfg)
settings = FeatureSettings(load_calibration("auto", "embedded"), ValueConfig(combine="product"))
pairs = make_pairs(items, settings, cfg)
hanna = [(it, features_of(it["readings"], settings)) for it in items if it["kind"] == "hanna"]
base = load_weights("auto", "embedded")
for q in (0.0, 0.01, 0.05):
    m = base.with_cap(q)
    ag = pair_agreement(m, pairs)
    keys = ["hanna", "step", "story"] + [f"story:{t}" for t in ("off_prompt", "shuffled", "splice", "filler", "loop", "copy", "meta", "cut_off")]
    crit = []
    for c in HANNA_CRITERIA:
        w = []
        for (ia, fa), (ib, fb) in itertools.combinations(hanna, 2):
            ra, rb = ia["ratings"][c], ib["ratings"][c]
            if abs(ra - rb) >= 1.0:
                va, vb = story_value(m, fa), story_value(m, fb)
                w.append(1.0 if (va - vb) * (ra - rb) > 0 else 0.5 if va == vb else 0.0)
        crit.append(sum(w) / len(w))
    print(f"cap {q}: " + " ".join(f"{k} {ag[k]['agreement']:.3f}" for k in keys) + " | HANNA " + " ".join(f"{c[6:9]} {x:.3f}" for c, x in zip(HANNA_CRITERIA, crit)))
