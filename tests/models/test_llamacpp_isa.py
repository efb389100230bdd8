"""The llama.cpp build uses only instructions this process may execute (and only the portable
x86-64-v3 baseline): a native build once put AMX code in it that died with SIGILL on a Xeon whose
OS does not grant AMX."""

from __future__ import annotations

import platform

import pytest

from storyspace.models.isa import (
    BASELINE,
    amx_granted,
    classify,
    cpu_flags,
    extensions_in,
    extensions_used,
    llama_libraries,
    unsupported,
)

DISASSEMBLY = """
0000000000012340 <ggml_vec_dot_q4_1_q8_1>:
   12340:\tvpbroadcastd 0x10(%rip),%ymm0
   12349:\tvfmadd231ps %ymm1,%ymm2,%ymm3
   12350:\tvcvtph2ps %xmm1,%ymm2
   12355:\tvmovups (%rdi),%ymm4
   1235a:\tret
"""


def test_classify_reads_the_extension_of_each_instruction() -> None:
    assert classify("tileloadd", "(%rsi,%rdx,1),%tmm0") == {"amx"}
    assert classify("tdpbssd", "%tmm1,%tmm2,%tmm0") == {"amx"}
    assert classify("vmovdqu8", "(%rax),%zmm1{%k1}{z}") == {"avx512"}
    assert classify("vaddps", "%xmm17,%xmm1,%xmm2") == {"avx512"}
    assert classify("vaddps", "(%rax){1to8},%ymm1,%ymm2") == {"avx512", "avx"}
    assert classify("vpdpbusd", "%ymm1,%ymm2,%ymm3", vex=True) == {"avx_vnni", "avx2"}
    assert classify("vpdpbusd", "%ymm1,%ymm2,%ymm3") == {"avx512", "avx2"}  # no {vex}: the EVEX form
    assert extensions_in(["  10:\t{vex} vpdpbusd %ymm1,%ymm2,%ymm3"]) == {"avx_vnni", "avx2"}
    assert classify("vfmadd231ps", "%ymm1,%ymm2,%ymm3") == {"fma", "avx"}
    assert classify("vpaddd", "%ymm1,%ymm2,%ymm3") == {"avx2"}
    assert classify("vpaddd", "%xmm1,%xmm2,%xmm3") == set()  # AVX-128 integer: in every AVX CPU
    assert classify("vaddps", "%ymm1,%ymm2,%ymm3") == {"avx"}
    assert classify("mov", "%rax,%rbx") == set()


def test_extensions_in_parses_objdump_lines() -> None:
    assert extensions_in(DISASSEMBLY.splitlines()) == {"avx", "avx2", "fma", "f16c"}


def test_unsupported_names_what_the_process_may_not_run() -> None:
    flags = cpu_flags("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c avx512f amx_tile\n")
    assert unsupported({"avx2", "fma"}, flags, amx_ok=False) == set()
    assert unsupported({"avx2", "amx"}, flags, amx_ok=False) == {"amx"}  # listed, not granted
    assert unsupported({"amx"}, flags, amx_ok=True) == set()
    assert unsupported({"avx512"}, {"avx", "avx2"}, amx_ok=False) == {"avx512"}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the instruction scan reads x86-64 code")
def test_installed_llama_cpp_is_portable_and_runs_here() -> None:
    libraries = llama_libraries()
    if not libraries:
        pytest.skip("llama-cpp-python is not installed (make test installs it)")
    flags, amx_ok = cpu_flags(), amx_granted()
    used_anywhere: set[str] = set()
    for lib in libraries:
        used = extensions_used(lib)
        used_anywhere |= used
        assert not unsupported(used, flags, amx_ok), f"{lib.name} uses {sorted(unsupported(used, flags, amx_ok))}"
        assert used <= BASELINE, f"{lib.name} uses {sorted(used - BASELINE)} beyond x86-64-v3 (rebuild: make clean test)"
    assert "avx2" in used_anywhere  # the fast kernels are there: the build was not left at SSE


AMX_C = r"""
#include <immintrin.h>
void amx_kernel(const void *a, void *c) { _tile_loadd(0, a, 64); _tile_stored(0, c, 64); _tile_release(); }
__m512 avx512_kernel(__m512 x, __m512 y) { return _mm512_add_ps(x, y); }
__m256 avx2_kernel(__m256 x, __m256 y, __m256 z) { return _mm256_fmadd_ps(x, y, z); }
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 code")
def test_the_scan_finds_amx_and_avx512_in_a_compiled_library(tmp_path) -> None:  # noqa: ANN001
    import shutil
    import subprocess

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    (tmp_path / "k.c").write_text(AMX_C)
    lib = tmp_path / "libk.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-mamx-tile", "-mavx512f", "-mfma", "-o", str(lib),
                    str(tmp_path / "k.c")], check=True)
    used = extensions_used(lib)
    assert {"amx", "avx512", "fma"} <= used
    assert "amx" in unsupported(used, {"avx", "avx2", "fma", "f16c", "avx512f", "amx_tile"}, amx_ok=False)
