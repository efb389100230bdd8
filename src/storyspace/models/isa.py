"""Which x86 instruction-set extensions a shared library uses, read from its disassembly.

llama.cpp built with native CPU flags on one machine can contain AMX or AVX-512 code that
another machine (or an OS that does not grant AMX tile state) cannot execute: the process dies
with SIGILL inside ``llama_decode``. ``extensions_used`` lists the extensions a library's code
uses, and ``unsupported`` says which of them this process may not execute, so that a test (and a
user) can check a build before it crashes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

#: the portable baseline storyspace builds llama.cpp for (x86-64-v3)
BASELINE = frozenset({"avx", "avx2", "fma", "f16c"})

_AMX = re.compile(r"^(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilerelease|tilezero|tdp\w+|tcmmr\w*|tcmmi\w*)$")
_AVX512_REG = re.compile(r"%(zmm\d+|k[0-7]\b|[xy]mm(1[6-9]|2\d|3[01])\b)|\{(1to\d+|r[nduz]-sae|sae)\}")
_VNNI = re.compile(r"^vpdp(bu|ws)sds?$")
_YMM = re.compile(r"%ymm\d+")
_FMA = re.compile(r"^vf(n)?m(add|sub|addsub|subadd)\d{3}[ps][sd]$")
_F16C = re.compile(r"^vcvt(ph2ps|ps2ph)$")
# AVX2 integer ops on ymm (AVX alone has ymm only for floating point)
_AVX2_INT = re.compile(r"^vp\w+$")
_AVX2_ONLY = re.compile(r"^(vpbroadcast\w|vperm(d|q|ps|pd)|vinserti128|vextracti128|vpgather\w+|vgather\w+|vpmaskmov\w|vpsllv\w|vpsrlv\w|vpsrav\w)$")

#: /proc/cpuinfo flag that grants each extension
CPU_FLAG = {
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512": "avx512f",
    "avx_vnni": "avx_vnni",
    "amx": "amx_tile",
}


def classify(mnemonic: str, operands: str, vex: bool = False) -> set[str]:
    """The extensions one disassembled instruction (AT&T syntax) needs; ``vex``: objdump marked it
    ``{vex}`` (it does so for the VEX form of an instruction that also has an EVEX form, such as
    AVX-VNNI's ``vpdpbusd``; unmarked, that one is AVX-512 VNNI)."""
    out: set[str] = set()
    if _AMX.match(mnemonic):
        out.add("amx")
    if _AVX512_REG.search(operands):  # zmm, opmask, high registers, EVEX broadcast / rounding
        out.add("avx512")
    elif _VNNI.match(mnemonic):
        out.add("avx_vnni" if vex else "avx512")
    if _FMA.match(mnemonic):
        out.add("fma")
    if _F16C.match(mnemonic):
        out.add("f16c")
    if _AVX2_ONLY.match(mnemonic) or (_AVX2_INT.match(mnemonic) and _YMM.search(operands)):
        out.add("avx2")
    elif mnemonic.startswith("v") and _YMM.search(operands):
        out.add("avx")
    return out


def extensions_in(lines: Iterable[str]) -> set[str]:
    """Extensions used by the instructions in ``objdump -d --no-show-raw-insn`` output lines."""
    used: set[str] = set()
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].rstrip().endswith(":"):
            continue
        text = parts[1].strip()
        vex = text.startswith("{vex}")
        insn = text.replace("{vex}", "").replace("{evex}", "").strip().split(None, 1)
        if not insn:
            continue
        used |= classify(insn[0], insn[1] if len(insn) > 1 else "", vex)
    return used


def extensions_used(library: Path) -> set[str]:
    """Extensions used by a shared library's code (needs binutils' ``objdump``)."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise RuntimeError("objdump not found (Debian package binutils)")
    proc = subprocess.Popen([objdump, "-d", "--no-show-raw-insn", str(library)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    used = extensions_in(proc.stdout)
    if proc.wait() != 0:
        raise RuntimeError(f"objdump failed on {library}")
    return used


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first processor in ``/proc/cpuinfo``."""
    text = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def amx_granted() -> bool:
    """Whether the OS lets this process use AMX tile data (Linux ``arch_prctl`` permission).

    A CPU can list ``amx_tile`` while the kernel (or a hypervisor) refuses the state: AMX code
    then dies with SIGILL. Only a granted permission makes AMX safe."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return False
    sys_arch_prctl, arch_get_xcomp_perm, xfeature_xtiledata = 158, 0x1022, 18
    bits = ctypes.c_ulong(0)
    if syscall(sys_arch_prctl, arch_get_xcomp_perm, ctypes.byref(bits)) != 0:
        return False
    return bool(bits.value & (1 << xfeature_xtiledata))


def unsupported(used: set[str], flags: set[str], amx_ok: bool) -> set[str]:
    """The extensions in ``used`` that a process with these CPU flags may not execute."""
    bad = {ext for ext in used if CPU_FLAG.get(ext, ext) not in flags}
    if "amx" in used and not amx_ok:
        bad.add("amx")
    return bad


def llama_libraries() -> list[Path]:
    """The shared libraries of the installed llama-cpp-python (empty when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0])
    seen: dict[str, Path] = {}
    for p in sorted(root.rglob("*.so*")):  # wheels hold copies (libx.so, libx.so.0, ...): scan each once
        if p.is_file() and not p.is_symlink():
            seen.setdefault(hashlib.sha1(p.read_bytes()).hexdigest(), p)
    return sorted(seen.values())
