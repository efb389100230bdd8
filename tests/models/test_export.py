"""export-gguf: an HF model directory (and its LoRA adapter) to GGUF with llama.cpp's converter,
then loaded by the llama.cpp backend."""

from __future__ import annotations

import subprocess
import sys

import pytest

from storyspace.errors import UserError
from storyspace.models.export import export_gguf
from storyspace.models.registry import ModelPool, embedded_gguf_path

pytestmark = pytest.mark.slow


def mean_logprob(model, prompt: str, text: str) -> float:  # noqa: ANN001
    [lps] = model.logprobs(prompt, [text])
    return sum(lps) / len(lps)


def test_exported_gguf_reads_the_trained_models_text_not_the_bases(orpo_trained, embedded) -> None:  # noqa: ANN001
    from tests.conftest import CHOSEN

    trained, pairs, _ = orpo_trained
    out = trained.parent / "policy.q8_0.gguf"
    info = export_gguf(trained, out, "q8_0")
    assert out.is_file() and info["megabytes"] > 50
    exported = ModelPool().get(f"llamacpp:{out}")
    tuned = ModelPool(device="cpu").get(f"hf:{trained}")
    prompt = exported.chat_prompt(pairs[0]["prompt"])
    assert prompt == embedded.chat_prompt(pairs[0]["prompt"])  # the chat template travels in the GGUF
    got = exported.sample([prompt], 1, 12, 0.9, [0])[0][0]
    assert got.text.strip() and len(got.logprobs) > 0
    # the GGUF reads the chosen text as the trained model does (q8_0 of the same weights), and
    # unlike the base model, which the training moved away from
    gguf_lp, tuned_lp, base_lp = (mean_logprob(m, prompt, CHOSEN) for m in (exported, tuned, embedded))
    assert abs(gguf_lp - tuned_lp) < 0.1, (gguf_lp, tuned_lp)
    assert gguf_lp > base_lp + 0.5, (gguf_lp, base_lp)
    with pytest.raises(UserError, match="already exists"):
        export_gguf(trained, out, "q8_0")


def test_trained_lora_adapter_exports(orpo_trained) -> None:  # noqa: ANN001
    import gguf
    import numpy as np

    trained, _, _ = orpo_trained
    out = trained.parent / "lora.f16.gguf"
    export_gguf(trained, out, "f16", lora=True)
    reader = gguf.GGUFReader(str(out))
    names = [t.name for t in reader.tensors]
    assert names and all(".lora_" in n for n in names)
    # LoRA starts with B = 0: a trained adapter has moved it
    assert any(np.abs(np.asarray(t.data, dtype=np.float32)).max() > 0 for t in reader.tensors if ".lora_b" in t.name)


def test_cli_export_gguf_bad_input_is_one_line(tmp_path) -> None:  # noqa: ANN001
    proc = subprocess.run([sys.executable, "-m", "storyspace.cli", "export-gguf", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"storyspace: error: no transformers model at {tmp_path} (config.json not found)"]
    assert embedded_gguf_path().is_file()
