"""export-gguf: an HF model directory (and its LoRA adapter) to GGUF with llama.cpp's converter,
then loaded by the llama.cpp backend."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storyspace.errors import UserError
from storyspace.models.export import export_gguf
from storyspace.models.registry import ModelPool, embedded_gguf_path, model_dir, parse_spec

pytestmark = pytest.mark.slow

MSGS = [{"role": "user", "content": "Write the first sentence of a story about a lighthouse keeper."}]


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory) -> Path:  # noqa: ANN001
    """A directory laid out like `storyspace train`'s output: merged weights plus adapter/ (here
    the base weights and a fresh LoRA, which leaves the weights unchanged)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = model_dir(parse_spec("embedded"))
    out = tmp_path_factory.mktemp("trained") / "model"
    shutil.copytree(base, out)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  task_type="CAUSAL_LM"))
    peft_model.save_pretrained(out / "adapter")
    return out


def test_merged_model_exports_and_runs_on_llamacpp(trained_like, embedded) -> None:  # noqa: ANN001
    out = trained_like.parent / "policy.q8_0.gguf"
    info = export_gguf(trained_like, out, "q8_0")
    assert out.is_file() and info["megabytes"] > 50
    model = ModelPool().get(f"llamacpp:{out}")
    prompt = model.chat_prompt(MSGS)
    assert prompt == embedded.chat_prompt(MSGS)  # the chat template travels in the GGUF
    got = model.sample([prompt], 1, 12, 0.9, [0])[0][0]
    assert got.text.strip() and len(got.logprobs) > 0
    # q8_0 of the same weights reads text as the float model does (mean log-prob per token)
    want = embedded.sample([prompt], 1, 24, 0.0, [0])[0][0]
    [scored] = model.logprobs(prompt, [want.text])
    assert abs(sum(scored) / len(scored) - want.mean_logprob) < 0.1
    with pytest.raises(UserError, match="already exists"):
        export_gguf(trained_like, out, "q8_0")


def test_lora_adapter_exports(trained_like) -> None:  # noqa: ANN001
    import gguf

    out = trained_like.parent / "lora.f16.gguf"
    export_gguf(trained_like, out, "f16", lora=True)
    reader = gguf.GGUFReader(str(out))
    names = [t.name for t in reader.tensors]
    assert names and all(".lora_" in n for n in names)


def test_cli_export_gguf_bad_input_is_one_line(tmp_path) -> None:  # noqa: ANN001
    proc = subprocess.run([sys.executable, "-m", "storyspace.cli", "export-gguf", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"storyspace: error: no transformers model at {tmp_path} (config.json not found)"]
    assert embedded_gguf_path().is_file()
