"""Sweep the training (DPO or ORPO) and pair settings on a loop's own pairs, each variant measured
on the loop's held-out premises (issue #14: settings chosen by a held-out measurement, not by
default).

``storyspace sweep LOOP_DIR`` trains one policy per variant from the loop's policy 0 on the
pairs its iteration-0 search found (``iter0/pairs.jsonl``, selected by the variant's pair
settings, or made afresh from its trees), measures it as the loop measures its policies
(``Loop.measure``: single-pass stories on the held-out premises judged by the value model (a)
and the independent reader (b), guards, human-story perplexity), and compares it with policy 0.
Variants change one setting of the loop at a time (``DEFAULT_VARIANTS``) or come from a JSON
file. Everything lands in ``LOOP_DIR/sweep/``: a model and measurement per variant,
``sweep.json``, ``sweep.md`` and ``sweep.png``; a killed sweep continues where it stopped.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from storyspace.config import from_dict
from storyspace.errors import UserError
from storyspace.files import atomic_write, read_json_object
from storyspace.train import heldout as ho
from storyspace.train.orpo import TrainConfig, train_orpo, validate_train
from storyspace.train.pairs import PairConfig, read_pairs, select_pairs, validate_pairs, write_pairs

#: a variant whose HANNA perplexity rose more than this cannot be chosen (the policy must not collapse)
MAX_PERPLEXITY_CHANGE = 0.10

#: ``PairConfig`` fields that decide which pairs a tree yields (a variant that changes one makes its own)
MADE_BY = ("pairing", "max_similarity", "min_visits")


@dataclass(frozen=True)
class Variant:
    """A name and the loop settings it changes: ``train`` (``TrainConfig`` fields) and ``pairs``
    (``PairConfig`` fields; a variant that pairs otherwise than the loop, or at a smaller margin,
    makes its pairs afresh from the loop's iteration-0 trees)."""

    name: str
    train: dict[str, Any] = field(default_factory=dict)
    pairs: dict[str, Any] = field(default_factory=dict)

    def flags(self) -> str:
        """The ``storyspace loop`` flags that make this variant the loop's own setting."""
        items = {**self.train, **self.pairs}
        return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in items.items())


#: the loop's own settings, ORPO at its earlier defaults and at the loop's strength (session 13
#: compared the losses on the capped loop's pairs: ``results/loop/cap/sweep.md``), then one setting
#: at a time on top of the loop's own (by default DPO, lr 5e-4, 30 steps), in the order a sweep cut
#: short should have measured them
DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant("loop"),
    Variant("ORPO (the earlier defaults)", {"loss": "orpo", "learning_rate": 5e-5, "max_steps": 12}),
    Variant("ORPO + lr 5e-4 + 30 steps", {"loss": "orpo", "learning_rate": 5e-4, "max_steps": 30}),
    Variant("12 steps", {"max_steps": 12}),
    Variant("lr 1e-4", {"learning_rate": 1e-4}),
    Variant("beta 0.5", {"beta": 0.5}),
    Variant("margin 0.1", pairs={"min_margin": 0.1}),
    Variant("24 pairs", pairs={"max_pairs": 24}),
    Variant("60 steps", {"max_steps": 60}),
    # more pairs a node need more steps to be seen: compare these with "60 steps"
    Variant("best vs rest + 60 steps", {"max_steps": 60}, {"pairing": "best_vs_rest"}),
    Variant("all pairs + 60 steps", {"max_steps": 60}, {"pairing": "all"}),
)


def slug(name: str) -> str:
    """A variant's directory name: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-") or "variant"


def read_variants(path: Path) -> list[Variant]:
    """Variants from a JSON list of ``{"name", "train": {...}, "pairs": {...}}`` (one-line errors;
    a name may not hold a comma: ``--only`` lists names with commas)."""
    data = _read_list(path)
    out = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise UserError(f"{path}: variant {n} needs a name")
        if "," in item["name"]:
            raise UserError(f"{path}: variant name {item['name']!r} holds a comma")
        unknown = set(item) - {"name", "train", "pairs"}
        if unknown:
            raise UserError(f"{path}: variant {item['name']!r} has unknown key {sorted(unknown)[0]!r}")
        v = Variant(item["name"].strip(), dict(item.get("train") or {}), dict(item.get("pairs") or {}))
        check_variant(v, TrainConfig(), PairConfig())
        out.append(v)
    if not out:
        raise UserError(f"{path} names no variant")
    if len({slug(v.name) for v in out}) != len(out):
        raise UserError(f"{path}: two variants share a name")
    return out


def _read_list(path: Path) -> list[Any]:
    from storyspace.files import read_text

    try:
        data = json.loads(read_text(path, "variants file"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise UserError(f"{path} must hold a JSON list of variants")
    return data


def check_variant(v: Variant, train: TrainConfig, pairs: PairConfig) -> tuple[TrainConfig, PairConfig]:
    """The variant's settings on top of the loop's, checked (one-line errors)."""
    for what, cls, over in (("train", TrainConfig, v.train), ("pairs", PairConfig, v.pairs)):
        if not isinstance(over, dict):
            raise UserError(f"variant {v.name!r}: {what} must be a table")
        from_dict(cls, over, f"variant {v.name!r} {what}")  # unknown keys and wrong types
    t = replace(train, **v.train)
    p = replace(pairs, **v.pairs)
    validate_train(t)
    validate_pairs(p)
    return t, p


def choose(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The variant that raises both judges most (the larger smaller effect, ``min(a, b)``) among
    those whose human-story perplexity rose at most ``MAX_PERPLEXITY_CHANGE``."""
    ok = [r for r in rows if _effect(r) is not None and (r.get("perplexity_change") is None
                                                         or r["perplexity_change"] <= MAX_PERPLEXITY_CHANGE)]
    return max(ok, key=lambda r: _effect(r), default=None)  # type: ignore[arg-type, return-value]


def _effect(r: dict[str, Any]) -> float | None:
    xs = [r.get(f"judge_{j}", {}).get("effect_sd") for j in ("a", "b")]
    xs = [x for x in xs if isinstance(x, (int, float)) and math.isfinite(x)]
    return min(xs) if xs else None


def sweep_markdown(rows: Sequence[dict[str, Any]], base: dict[str, Any], command: str) -> str:
    lines = ["# Training sweep on the loop's iteration-0 pairs", "",
             f"Command: `{command}`. Each variant trains from policy 0 on the pairs its settings select and is "
             f"measured on {base.get('heldout_premises', '?')} held-out premises x {base.get('seeds', '?')} "
             "single-pass stories against policy 0 (effect in pooled SD; Welch and permutation p; "
             "p paired by premise and seed, t-test); "
             f"HANNA perplexity of policy 0: {base.get('hanna_perplexity', math.nan):.2f}.", "",
             "| variant | loop flags | pairs | judge a effect (p Welch, p perm., p paired) "
             "| judge b effect (p Welch, p perm., p paired) "
             "| HANNA perplexity change | distinct-2 | meta share | reward acc. | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def eff(c: dict[str, Any] | None) -> str:
        return f"{c['effect_sd']:+.2f} ({c['p_welch']:.2g}, {c['p_perm']:.2g}, {c.get('p_paired_t', math.nan):.2g})" if c else ""

    for r in rows:
        g, o = r.get("guards", {}), r.get("orpo", {})
        ppl = r.get("perplexity_change")
        flags = f"`{r['flags']}`" if r["flags"] else "(the loop's own)"
        lines.append(f"| {r['variant']} | {flags} | {r['pairs']} | {eff(r.get('judge_a'))} | {eff(r.get('judge_b'))} "
                     f"| {'' if ppl is None else f'{ppl:+.1%}'} | {g.get('distinct_2', math.nan):.3f} "
                     f"| {g.get('meta_share', math.nan):.3f} | {o.get('rewards/accuracies', math.nan):.3f} "
                     f"| {r.get('train_seconds', '')} |")
    best = choose(rows)
    lines += ["", f"Policy 0: distinct-2 {base.get('guards', {}).get('distinct_2', math.nan):.3f}, meta share "
                  f"{base.get('guards', {}).get('meta_share', math.nan):.3f}."]
    if best is not None:
        lines.append(f"Chosen by min(effect a, effect b) among variants within +{MAX_PERPLEXITY_CHANGE:.0%} HANNA "
                     f"perplexity: **{best['variant']}** (`{' '.join(['storyspace loop', best['flags']]).strip()}`).")
    return "\n".join(lines) + "\n"


class Sweep:
    """Variants trained and measured one after the other in ``loop_dir/sweep`` (``pool``: the
    models, by default a new ``ModelPool`` with the loop's model options)."""

    def __init__(self, loop_dir: Path, variants: Sequence[Variant], pool: Any = None,
                 say: Callable[[str], None] = lambda _: None, command: str = "", seeds: int | None = None) -> None:
        from storyspace.train.loop import Loop, loop_config

        meta = read_json_object(loop_dir / "loop.json", "loop.json")
        try:
            self.cfg = loop_config(meta["config"])
            heldout, train = list(meta["heldout_premises"]), list(meta["train_premises"])
        except (KeyError, TypeError) as exc:
            raise UserError(f"{loop_dir}/loop.json is damaged: {exc}") from exc
        self.pairs_path = loop_dir / "iter0" / "pairs.jsonl"
        if not self.pairs_path.exists():
            raise UserError(f"{loop_dir} has no iteration-0 pairs yet: run `storyspace loop --out {loop_dir}` first")
        if seeds is not None:
            if seeds < 1:
                raise UserError(f"--seeds must be positive, got {seeds}")
            self.cfg = replace(self.cfg, heldout_seeds=seeds)
        if pool is None:
            from storyspace.models.registry import ModelPool

            pool = ModelPool(options=self.cfg.explore.models.options())
        self.loop = Loop(loop_dir, train + heldout, replace(self.cfg, train_premises=len(train),
                                                           heldout_premises=len(heldout)), pool, say=say)
        self.loop.heldout = heldout
        self.variants = list(variants)
        for v in self.variants:
            check_variant(v, self.cfg.train, self.cfg.pairs)
        self.dir = loop_dir / "sweep"
        self.say = say
        self.command = command

    def base(self) -> dict[str, Any]:
        """Policy 0 as the loop measured it (measured here if the loop has not yet)."""
        row = self.loop.measure(self.loop.policy_spec(0), self.loop.out / "eval" / "policy0", 0, "policy 0")
        return {**row, "heldout_premises": len(self.loop.heldout), "seeds": self.cfg.heldout_seeds}

    def pairs_for(self, pair_cfg: PairConfig, root: Path) -> tuple[list[dict[str, Any]], Path]:
        """A variant's pairs and their file: the loop's ``iter0/pairs.jsonl`` when the variant
        makes pairs as the loop did (a larger margin or fewer pairs only select among them), else
        made afresh from the loop's iteration-0 search trees into ``root/pairs.jsonl``."""
        made_as_loop = all(getattr(pair_cfg, f) == getattr(self.cfg.pairs, f) for f in MADE_BY) and \
            pair_cfg.min_margin >= self.cfg.pairs.min_margin
        path = self.pairs_path if made_as_loop else root / "pairs.jsonl"
        if not path.exists():
            runs = sorted(p.parent for p in (self.loop.out / "iter0" / "search").glob("*/tree.json"))
            write_pairs(self.loop.pairs_of(runs, 0, pair_cfg), path)
        return select_pairs(read_pairs(path), pair_cfg), path

    def run_variant(self, v: Variant, base: dict[str, Any]) -> dict[str, Any]:
        train, pair_cfg = check_variant(v, self.cfg.train, self.cfg.pairs)
        root = self.dir / slug(v.name)
        pairs, pairs_path = self.pairs_for(pair_cfg, root)
        if not pairs:
            raise UserError(f"variant {v.name!r} selects no pair of {pairs_path}")
        model = root / "model"
        same_as_loop = train == self.cfg.train and pair_cfg == self.cfg.pairs
        loop_model = self.loop.out / "iter1" / "model"
        if same_as_loop and (loop_model / "train.json").exists():
            model, measured = loop_model, self.loop.out / "eval" / "policy1"  # the loop's own policy 1
        else:
            measured = root / "eval"
            if not (model / "train.json").exists():
                self.say(f"{v.name}: {train.loss.upper()} on {len(pairs)} pairs")
                if model.exists():
                    model.rmdir()
                train_orpo(pairs, self.loop.policy_spec(0), model, train, device=self.cfg.explore.models.device)
        row = self.loop.measure(f"hf:{model.absolute()}", measured, 0, v.name)
        trained = read_json_object(model / "train.json", "train.json")
        out = {"variant": v.name, "flags": v.flags(), "train": asdict(train),
               "pairs": len(pairs), "model": str(model), "orpo": trained.get("final", {}),
               "train_seconds": trained.get("train_seconds"), **{k: row[k] for k in ("judge_a", "judge_b", "guards")},
               "hanna_perplexity": row["hanna_perplexity"], "stories": row["stories"]}
        for judge in ("a", "b"):
            new, old = row["stories"].get(judge, {}), base["stories"].get(judge, {})
            out[f"judge_{judge}"] = ho.compare(new, old) if len(new) >= 2 and len(old) >= 2 else None
        p0, p1 = base.get("hanna_perplexity", math.nan), row["hanna_perplexity"]
        out["perplexity_change"] = round(p1 / p0 - 1.0, 4) if math.isfinite(p0) and math.isfinite(p1) and p0 else None
        return out

    def run(self) -> list[dict[str, Any]]:
        base = self.base()
        rows = []
        for v in self.variants:
            rows.append(self.run_variant(v, base))
            self.report(rows, base)
        return rows

    def report(self, rows: Sequence[dict[str, Any]], base: dict[str, Any]) -> None:
        from storyspace.viz.plots import plot_sweep

        best = choose(rows)
        data = {"command": self.command, "heldout_premises": base["heldout_premises"], "seeds": base["seeds"],
                "policy0": {k: base[k] for k in ("judge_a", "judge_b", "hanna_perplexity", "guards")},
                "variants": list(rows), "chosen": best["variant"] if best else None}
        atomic_write(self.dir / "sweep.json", json.dumps(data, indent=1) + "\n")
        atomic_write(self.dir / "sweep.md", sweep_markdown(rows, base, self.command))
        plot_sweep(rows, self.dir / "sweep.png")
