"""Issue #14, part 1: share of meta talk and independent-reader value of the policy's
passages under prompt variants. Writes results/prompts/out/<variant>.jsonl and prints a table row per variant.

    .venv/bin/python results/prompts/measure.py [VARIANT ...]
"""
import json, os, sys, time
from pathlib import Path
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from storyspace.cli import quiet_libraries
quiet_libraries()
from storyspace.corpus import shipped_premises, human_stories
from storyspace.models.registry import ModelPool
from storyspace.story import PromptConfig, Story, Step, clean_passage, passage_messages
from storyspace.value.penalties import META_PATTERNS, meta_talk
from storyspace.assemble import independent_reader
from storyspace.value.config import ValueConfig
from storyspace.judges.llm import GEMMA_READER

PREMISES = shipped_premises()[40:52]
K, TOKENS = 3, 64
pool = ModelPool(device="cpu")
policy = pool.get("embedded")
P = PromptConfig()
hs = human_stories()
EXAMPLE = next(h for h in hs if h["prompt"] not in PREMISES)
ex_open = " ".join(EXAMPLE["human_story"].split()[:70]).rsplit(".", 1)[0] + "."

def chat_default(story):
    return policy.chat_prompt(passage_messages(story, P))
def chat_plain(story):
    if not story.steps:
        user = f"Write the opening of a story for this premise.\n\nPremise: {story.premise}"
    else:
        user = (f"Premise: {story.premise}\n\nHere is the story so far:\n\n{story.text()}\n\n"
                "Continue the story with the next two to four sentences.")
    return policy.chat_prompt([{"role": "user", "content": user}])
def prefill(story):
    user = f"Write a short story for this premise.\n\nPremise: {story.premise}"
    head = policy.chat_prompt([{"role": "system", "content": P.system}, {"role": "user", "content": user}])
    return head + (story.text() + "\n\n" if story.steps else "")
def prefill_space(story):
    user = f"Write a short story for this premise.\n\nPremise: {story.premise}"
    head = policy.chat_prompt([{"role": "system", "content": P.system}, {"role": "user", "content": user}])
    return head + (story.text() + " " if story.steps else "")
def prefill_join(story):
    user = f"Write a short story for this premise.\n\nPremise: {story.premise}"
    head = policy.chat_prompt([{"role": "system", "content": P.system}, {"role": "user", "content": user}])
    return head + story.text()
def prefill_long(story):
    user = (f"Write a story of several paragraphs for this premise. Write only the story.\n\nPremise: {story.premise}")
    head = policy.chat_prompt([{"role": "system", "content": P.system}, {"role": "user", "content": user}])
    return head + (story.text() + "\n\n" if story.steps else "")
def completion(story):
    return f"Writing prompt: {story.premise}\n\nStory:\n" + (story.text() + "\n\n" if story.steps else "")
def fewshot(story):
    return (f"Writing prompt: {EXAMPLE['prompt']}\n\nStory:\n{ex_open}\n\n###\n\n" + completion(story))

VARIANTS = {"prefill_join": prefill_join, "prefill_space": prefill_space, "prefill_long": prefill_long, "chat_default": chat_default, "chat_plain": chat_plain, "prefill": prefill, "completion": completion,
            "fewshot": fewshot}
want = sys.argv[1:] or list(VARIANTS)
out_dir = Path("results/prompts/out"); out_dir.mkdir(exist_ok=True)
reader = independent_reader(pool, GEMMA_READER, "auto", ValueConfig(), P)
for name in want:
    fn = VARIANTS[name]
    t = time.time()
    rows = []
    stories = [Story(p) for p in PREMISES]
    for step in range(2):
        prompts = [fn(s) for s in stories]
        samples = policy.sample(prompts, K, TOKENS, 0.9, [1000 + i for i in range(len(stories))], 0.95, ["###"])
        nxt = []
        for s, group in zip(stories, samples):
            cleaned = [clean_passage(x.text) for x in group]
            vals = reader.evaluate(s, [c.text for c in cleaned], [c.cut_off for c in cleaned])
            for c, v in zip(cleaned, vals):
                rows.append({"variant": name, "step": step, "premise": s.premise, "passage": c.text,
                             "cut_off": c.cut_off, "meta_regex": meta_talk(c.text, META_PATTERNS),
                             "reader_value": v["value"]})
            first = next((c for c in cleaned if c.text and not c.cut_off), cleaned[0])
            nxt.append(s.extend(Step(passage=first.text)))
        stories = nxt
    (out_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    n = len(rows)
    meta = sum(1 for r in rows if r["meta_regex"] > 0) / n
    cut = sum(r["cut_off"] for r in rows) / n
    rv = sum(r["reader_value"] for r in rows) / n
    print(f"| {name} | {n} | {meta:.3f} | {cut:.3f} | {rv:.3f} | {time.time()-t:.0f}s |", flush=True)
