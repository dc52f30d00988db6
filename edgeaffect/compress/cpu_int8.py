"""What this machine's CPU does with ONNX Runtime INT8 QDQ models, and the settings that keep them exact.

On x86-64 without VNNI (AVX2 desktops, laptops and servers such as AMD Zen 2/3 or Intel before Ice Lake),
ONNX Runtime's U8S8 integer kernels add pairs of u8 x s8 products in a saturating 16-bit register
(``vpmaddubsw``): once a pair exceeds 32767 the result is clamped, so a QDQ model that is accurate as
quantized arithmetic loses agreement on these CPUs only.  VNNI (``vpdpbusd``) and AMX accumulate in 32 bits
and do not saturate; ARM and TensorRT do not use this kernel at all.  Two ways around it, both ORT's:
``reduce_range`` (7-bit weights in [-64, 63]: a pair stays below 2 * 255 * 64 = 32640, so it never saturates)
for models that will run on such CPUs, and the session option ``session.x64quantprecision`` (U8U8 instead
of U8S8 on CPUs without VNNI; ORT ignores it elsewhere) for running a model whose weights use all 8 bits.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# CPU flags (Linux /proc/cpuinfo names) that decide which INT8 kernel ONNX Runtime's MLAS uses
INT8_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# ORT session config key: exact U8U8 integer matmul/conv on x86-64 CPUs without VNNI (no-op on other CPUs)
PRECISE_KEY = "session.x64quantprecision"
WEIGHT_BITS_PROP = "edgeaffect.int8_weight_bits"  # ONNX metadata: "7" (reduce_range) or "8", written at export
X86_ARCHES = ("x86_64", "amd64", "x86", "i686")


def is_x86(arch: str) -> bool:
    return arch.lower() in X86_ARCHES


def target_may_saturate(target: str) -> bool:
    """True when an ONNX Runtime INT8 model for ``target`` may meet the x86 U8S8 kernel without VNNI.

    An x86 profile will (AVX2 laptops are common, whatever CPU exported the model); an ARM profile will
    not.  With no target the answer is the safe one: it may.
    """
    if not target:
        return True
    from edgeaffect.devices import get_profile

    return is_x86(get_profile(target).arch)


@dataclass(frozen=True)
class CpuInt8:
    """The export machine's INT8-relevant CPU features, as recorded in verification.json."""

    machine: str  # platform.machine(), e.g. x86_64, aarch64
    flags: tuple[str, ...]  # the INT8_FLAGS this CPU has ("unknown" when they could not be read)

    @property
    def x86(self) -> bool:
        return is_x86(self.machine)

    @property
    def vnni(self) -> bool:
        return any(f in self.flags for f in VNNI_FLAGS)

    @property
    def u8s8_saturates(self) -> bool:
        """True when ORT's default U8S8 kernel saturates here (x86 with AVX2/SSE but no VNNI/AMX)."""
        return self.x86 and "unknown" not in self.flags and not self.vnni


def _read_flags(cpuinfo: Path) -> tuple[str, ...]:
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return tuple(f for f in INT8_FLAGS if f in have)
    except OSError:
        pass
    return ("unknown",)


@lru_cache(maxsize=1)
def cpu_int8_features(cpuinfo: str = "/proc/cpuinfo") -> CpuInt8:
    """This CPU's INT8 features (flags are read on Linux; elsewhere they are recorded as unknown)."""
    return CpuInt8(platform.machine() or "unknown", _read_flags(Path(cpuinfo)))


def ort_int8_kernel(cpu: CpuInt8, *, exact: bool, weight_bits: str) -> str:
    """Which ONNX Runtime integer kernel ran an INT8 model here, and whether its sums were exact.

    ``exact``: the session asked for exact sums, because the device that computes the result does
    (TensorRT behind a proxy, an ARM target verified on an x86 export machine).
    """
    if not cpu.x86:
        return f"{cpu.machine}: ORT's non-x86 integer kernels (no U8S8 16-bit saturation)"
    if "unknown" in cpu.flags:
        return "x86 with unknown CPU flags: U8S8 16-bit saturation not ruled out"
    if cpu.vnni:
        return "U8S8 with VNNI/AMX: 32-bit sums, exact"
    if exact:
        return f"U8U8 ({PRECISE_KEY}=1): exact 32-bit sums on this CPU without VNNI, as the target device computes"
    if weight_bits == "7":
        return "U8S8 without VNNI: 7-bit weights (reduce_range) keep its 16-bit pair sums exact"
    return "U8S8 without VNNI: 16-bit pair sums can saturate on 8-bit weights"
