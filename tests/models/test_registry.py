"""Named GGUFs shipped as raw parts on PyPI (``llamacpp:qwen2.5-coder-0.5b``): joined once, checked
by sha256, refused with one line when a part is missing or the joined file is not the one pinned."""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import pytest

from storyspace.errors import UserError
from storyspace.models.registry import QWEN_CODER_05B, QWEN_CODER_15B, PartedGGUF, parse_spec, parted_gguf_path


def parts_on_path(root: Path, chunks: list[bytes], prefix: str = "fake_parts_pkg") -> PartedGGUF:
    """Hand-made packages ``PREFIXi/data/partNN.bin`` under ``root`` (the caller puts it on sys.path)."""
    for i, chunk in enumerate(chunks, 1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part0{i}.bin").write_bytes(chunk)
    return PartedGGUF(name="joined.gguf", packages=tuple(f"{prefix}{i}" for i in range(1, len(chunks) + 1)),
                      files=tuple(f"part0{i}.bin" for i in range(1, len(chunks) + 1)),
                      sha256=hashlib.sha256(b"".join(chunks)).hexdigest(), install="pip install the parts")


def test_parts_are_joined_in_order_once_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = parts_on_path(tmp_path / "site", [b"GGUF", b"-two-", b"three"])
    cache = tmp_path / "cache"
    path = parted_gguf_path(model, cache)
    assert path == cache / "joined.gguf" and path.read_bytes() == b"GGUF-two-three"
    stamp = path.stat().st_mtime_ns
    assert parted_gguf_path(model, cache).stat().st_mtime_ns == stamp  # joined once
    with pytest.raises(UserError, match="expected") as err:
        parted_gguf_path(replace(model, name="other.gguf", sha256="0" * 64), cache)
    assert "\n" not in str(err.value) and not (cache / "other.gguf").exists()
    assert [p.name for p in cache.iterdir()] == ["joined.gguf"]  # no temporary file left behind
    with pytest.raises(UserError, match="needs the package missing-pkg-x1"):
        parted_gguf_path(replace(model, name="x.gguf", packages=("missing_pkg_x1",)), cache)


def test_the_named_spec_parses() -> None:
    assert str(parse_spec("llamacpp:qwen2.5-coder-0.5b")) == "llamacpp:qwen2.5-coder-0.5b"
    assert len(QWEN_CODER_05B.packages) == len(QWEN_CODER_05B.files) == 6
    assert str(parse_spec("llamacpp:qwen2.5-coder-1.5b")) == "llamacpp:qwen2.5-coder-1.5b"
    assert len(QWEN_CODER_15B.packages) == len(QWEN_CODER_15B.files) == 22
    assert QWEN_CODER_15B.files[0] == "part01.bin" and QWEN_CODER_15B.files[-1] == "part22.bin"


def test_the_biggest_judge_says_how_to_install_it(tmp_path: Path) -> None:
    """``make test`` does not install the 1.1 GB judge: without its parts the spec fails in one
    line that names the make target (with them, the joined file is checked as above)."""
    if importlib.util.find_spec(QWEN_CODER_15B.packages[0]) is not None:
        path = parted_gguf_path(QWEN_CODER_15B)
        from gguf import GGUFReader

        meta = GGUFReader(path).fields
        assert meta["general.name"].contents() == "Qwen2.5 Coder 1.5B Instruct GGUF"
        assert meta["qwen2.block_count"].contents() == 28
        return
    with pytest.raises(UserError, match="make install-judges"):
        parted_gguf_path(QWEN_CODER_15B, tmp_path)


@pytest.mark.slow
def test_qwen_coder_reader_loads_on_llamacpp_and_reads_prose() -> None:
    """The real parts (``make install-readers``; ``make test`` installs them): the joined GGUF is
    the model its metadata names, and it reads a story's true next sentence as likelier than the
    same words shuffled."""
    from gguf import GGUFReader

    from storyspace.models.registry import ModelPool

    path = parted_gguf_path(QWEN_CODER_05B)
    meta = GGUFReader(path).fields
    assert meta["general.name"].contents() == "Qwen2.5 Coder 0.5B Instruct AWQ"
    assert meta["general.architecture"].contents() == "qwen2" and meta["qwen2.block_count"].contents() == 24
    reader = ModelPool(device="cpu").get("llamacpp:qwen2.5-coder-0.5b")
    context = "Writing prompt: A lighthouse keeper finds a message in a bottle.\n\nStory:\nThe storm passed at dawn."
    true = " She walked down to the rocks and found a green bottle wedged between two stones."
    shuffled = " Stones bottle two the rocks green she between a down and wedged walked found to."
    a, b = (sum(x) / len(x) for x in reader.logprobs(context, [true, shuffled]))
    assert math.isfinite(a) and a > b + 1.0
    assert "<|im_start|>" in reader.chat_prompt([{"role": "user", "content": "Hi"}])


def test_weights_are_the_same_on_any_backend(tmp_path: Path) -> None:
    from storyspace.models.registry import check_independent, weights_of

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    assert weights_of("embedded") == weights_of("llamacpp:embedded") == "embedded"
    assert weights_of(f"llamacpp:{gguf}") == weights_of(f"gguf:{tmp_path}/./m.gguf")
    assert weights_of("llamacpp:gemma3-270m") != weights_of("embedded")
    check_independent("llamacpp:gemma3-270m", "embedded")
    check_independent("", "embedded")  # no reader: nothing to check
    with pytest.raises(UserError, match="own reader"):
        check_independent("llamacpp:embedded", "embedded")
