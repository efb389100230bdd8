"""Preference fine-tuning of the policy on preference pairs with a PEFT LoRA adapter: ORPO (the
paper's; TRL ``trl.experimental.orpo``) or DPO (TRL ``trl.DPOTrainer``), TRL pinned at 1.16.0.

ORPO's loss is the NLL of the chosen text plus ``beta`` times its odds-ratio term; on pairs sampled
from the policy itself the NLL sharpens the policy toward its own likeliest text. DPO has no NLL
term: it raises the chosen text's log-ratio against a frozen reference over the rejected one's,
and the reference is the base model itself (the adapter disabled), so no second model is loaded.

Writes MODEL_DIR as a plain transformers directory with the merged weights (so that
``--model hf:MODEL_DIR`` loads it anywhere), the adapter in ``MODEL_DIR/adapter``, the
trainer's metrics of every logging step in ``metrics.jsonl``, a PNG plot of them and
``train.json``. The directory appears only when training has finished (it is written beside it,
then renamed).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from storyspace.errors import UserError
from storyspace.flags import flag
from storyspace.models.registry import model_dir, parse_spec
from storyspace.runs import package_versions

#: ``TrainConfig.loss`` values
LOSSES = ("orpo", "dpo")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
METRIC_KEYS = (
    "loss",
    "nll_loss",
    "log_odds_ratio",
    "log_odds_chosen",
    "rewards/accuracies",
    "rewards/margins",
    "rewards/chosen",
    "rewards/rejected",
    "logps/chosen",
    "logps/rejected",
    "grad_norm",
    "learning_rate",
)


@dataclass(frozen=True)
class TrainConfig:
    """Preference training (ORPO or DPO) + LoRA settings.

    - ``loss``: ``orpo`` (default: the paper's) or ``dpo``.
    - ``beta``: for ORPO its lambda, the weight of the odds-ratio term against the NLL of chosen;
      for DPO the usual temperature of the log-ratios against the reference (higher keeps the
      policy nearer the base), which must be > 0.
    - ``learning_rate``: 5e-5 for ORPO on a LoRA adapter (full fine-tuning uses ~1e-6..8e-6); the
      loop trains DPO at 5e-4 (``LoopConfig``), chosen by a held-out sweep.
    - ``epochs`` / ``max_steps``: ``max_steps > 0`` overrides epochs.
    - ``gradient_checkpointing``: off (TRL's default is on): it trades time for memory that a
      135M policy does not need; turn it on for a large policy on a small GPU.
    - ``bf16``: stays False on CPU (bf16 autocast measured 27x slower there); used on GPU only
      when asked.
    """

    loss: str = field(default="orpo", metadata=flag("--loss", "preference loss", choices=LOSSES))
    learning_rate: float = field(default=5e-5, metadata=flag("--learning-rate", "learning rate"))
    beta: float = field(default=0.1, metadata=flag("--beta", "ORPO lambda (weight of the odds-ratio term); DPO beta"))
    epochs: float = field(default=1.0, metadata=flag("--epochs", "epochs over the pairs"))
    max_steps: int = field(default=-1, metadata=flag("--max-steps", "training steps (overrides epochs when > 0)"))
    batch_size: int = field(default=4, metadata=flag("--batch-size", "pairs per step"))
    grad_accum: int = 1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = LORA_TARGETS
    max_length: int = 1024
    warmup_ratio: float = 0.1
    seed: int = 0
    gradient_checkpointing: bool = False
    bf16: bool = False


def validate_train(cfg: TrainConfig) -> None:
    """One-line ``UserError`` for training settings that cannot train."""
    if cfg.loss not in LOSSES:
        raise UserError(f"--loss must be one of {', '.join(LOSSES)}, not {cfg.loss!r}")
    if cfg.loss == "dpo" and cfg.beta <= 0:
        raise UserError("--beta must be > 0 with --loss dpo")
    if cfg.learning_rate <= 0 or cfg.epochs <= 0 or cfg.beta < 0:
        raise UserError("--learning-rate and --epochs must be positive, --beta >= 0")
    if cfg.batch_size < 1 or cfg.grad_accum < 1 or cfg.lora_r < 1 or cfg.max_length < 1:
        raise UserError("batch_size, grad_accum, lora_r and max_length must be positive")
    if not 0 <= cfg.lora_dropout < 1 or not 0 <= cfg.warmup_ratio < 1:
        raise UserError("lora_dropout and warmup_ratio must lie in [0, 1)")


def check_out_free(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} already exists and is not empty")


def _trainer_classes(loss: str) -> tuple[type, type]:
    """TRL's config and trainer classes for ``loss`` (imported only when training)."""
    if loss == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer


def train_orpo(
    pairs: list[dict[str, Any]],
    base_spec: str,
    out: Path,
    cfg: TrainConfig,
    device: str = "auto",
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train with ``cfg.loss`` (ORPO by default), save, and return a summary (also written to
    ``out/train.json``)."""
    check_out_free(out)
    spec = parse_spec(base_spec)
    if not pairs:
        raise UserError("no preference pairs to train on")
    import datasets
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    datasets.disable_progress_bars()  # the "Map" bars of TRL's tokenisation are noise here
    base = model_dir(spec)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    data = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    records: list[dict[str, float]] = []

    class _Metrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
            if not logs or "loss" not in logs:
                return
            row = {"step": state.global_step, "epoch": round(float(state.epoch or 0.0), 4)}
            row.update({k: float(v) for k, v in logs.items() if k.split("train_")[-1] in METRIC_KEYS or k in METRIC_KEYS})
            records.append(row)
            with open(work / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            if on_log is not None:
                on_log(row)

    use_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    config_cls, trainer_cls = _trainer_classes(cfg.loss)
    args = config_cls(
        output_dir=str(work / "checkpoints"),
        learning_rate=cfg.learning_rate,
        beta=cfg.beta,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        max_length=cfg.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        bf16=cfg.bf16 and not use_cpu,
        fp16=False,
        use_cpu=use_cpu,
        seed=cfg.seed,
        disable_tqdm=True,
        gradient_checkpointing=cfg.gradient_checkpointing,
    )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    start = time.perf_counter()
    try:
        trainer = trainer_cls(
            model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=lora, callbacks=[_Metrics()]
        )
        result = trainer.train()
        peft_model = trainer.model
        peft_model.save_pretrained(work / "adapter")
        merged = peft_model.merge_and_unload()
        merged.save_pretrained(work)
        tokenizer.save_pretrained(work)
        shutil.rmtree(work / "checkpoints", ignore_errors=True)
        summary = {
            "base": str(spec),
            "pairs": len(pairs),
            "config": asdict(cfg),
            "steps": int(result.global_step),
            "train_seconds": round(time.perf_counter() - start, 2),
            "final": records[-1] if records else {},
            "packages": package_versions(),
        }
        (work / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
        if records:
            from storyspace.viz.plots import plot_training

            plot_training(records, work / "metrics.png")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary
