"""HF model directory -> GGUF for llama.cpp (``storyspace export-gguf``).

Runs llama.cpp's own converter (``convert_hf_to_gguf.py``, or ``convert_lora_to_gguf.py`` for a
LoRA adapter) of the llama.cpp release that the pinned llama-cpp-python builds; ``make
install-llamacpp`` unpacks it from that sdist into ``.venv/share/llama.cpp-convert``
(``$STORYSPACE_LLAMA_CONVERT`` overrides). The file appears only when the conversion succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from storyspace.errors import UserError

OUTTYPES = ("f32", "f16", "bf16", "q8_0")


def converter_dir() -> Path:
    env = os.environ.get("STORYSPACE_LLAMA_CONVERT")
    return Path(env) if env else Path(sys.prefix) / "share" / "llama.cpp-convert"


def export_gguf(model_dir: Path, out: Path, outtype: str = "q8_0", lora: bool = False,
                base: Path | None = None) -> dict[str, float | str]:
    """Convert ``model_dir`` (merged weights, or with ``lora`` its ``adapter/``) to ``out``."""
    if outtype not in OUTTYPES:
        raise UserError(f"--outtype must be one of {', '.join(OUTTYPES)}")
    if not (model_dir / "config.json").is_file():
        raise UserError(f"no transformers model at {model_dir} (config.json not found)")
    if out.exists():
        raise UserError(f"--out {out} already exists")
    script = converter_dir() / ("convert_lora_to_gguf.py" if lora else "convert_hf_to_gguf.py")
    if not script.is_file():
        raise UserError(f"llama.cpp converter not found at {script} (run `make install-llamacpp`)")
    if lora:
        adapter = model_dir / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            raise UserError(f"no LoRA adapter in {adapter}")
        if base is None:
            base = Path(json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"])
        if not (base / "config.json").is_file():
            raise UserError(f"base model of the adapter not found at {base} (pass --base DIR)")
        source, extra = adapter, ["--base", str(base)]
    else:
        source, extra = model_dir, []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    cmd = [sys.executable, str(script), str(source), "--outfile", str(tmp), "--outtype", outtype, *extra]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not tmp.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
            raise UserError(f"GGUF conversion failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"gguf": str(out), "seconds": round(time.perf_counter() - start, 2),
            "megabytes": round(out.stat().st_size / 2**20, 1), "outtype": outtype, "lora": str(lora)}
