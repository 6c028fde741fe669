"""`precision: auto`: the faster of fp32 and bf16 on this machine, measured once and cached.

    from kaizen.models.precision import resolve_precision
    resolve_precision("auto")            # "bf16" or "fp32" (cached in ~/.cache/kaizen/precision.json)

CPU flags do not decide it: bf16 autocast trained the demo's model 1.8x faster than fp32 on a
2-core AMD EPYC with AVX512-BF16, but 1.5x *slower* (5.1k vs 7.5k tokens/s) on an Intel Xeon
with AVX512-BF16 and no AMX (issue 8). So on a CPU the choice is a probe: one forward and
backward of a small transformer block (matmul-heavy, as training is) in each precision, about
a second in all, timed and cached per CPU model, torch version, thread count and device.
On CUDA, bf16 where the GPU supports it (it is always the faster there); elsewhere fp32.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Literal

from kaizen.lazy import lazy_import

torch = lazy_import("torch")

Precision = Literal["auto", "fp32", "bf16", "fp16"]

# bf16 must win by this factor: a near tie is noise, and fp32 is the safer numerics.
BF16_MIN_SPEEDUP = 1.1
PROBE_REPEATS = 3  # each precision timed 3 times, interleaved; the minimum counts (others share the CPU)

_timer = time.perf_counter  # tests replace it


def resolve_precision(precision: Precision, device: torch.device | None = None) -> str:
    """An explicit precision is kept; ``auto`` -> bf16 or fp32, whichever runs faster on ``device``."""
    if precision != "auto":
        return precision
    from kaizen.models.loading import default_device

    device = device or default_device()
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return measured_cpu_precision()
    return "fp32"


def cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "kaizen" / "precision.json"


def machine_key() -> str:
    """What the measured choice depends on: the CPU, the kernels (torch version) and the threads."""
    return f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | cpu"


@functools.cache
def measured_cpu_precision() -> str:
    """The cached choice for this machine, probing once if there is none."""
    path, key = cache_path(), machine_key()
    cache = _read_cache(path)
    if key in cache and cache[key].get("choice") in ("fp32", "bf16"):
        return cache[key]["choice"]
    seconds = probe_seconds()
    choice = "bf16" if seconds["bf16"] * BF16_MIN_SPEEDUP < seconds["fp32"] else "fp32"
    cache[key] = {"choice": choice, "seconds_per_step": seconds, "native_bf16_flags": cpu_has_native_bf16()}
    _write_cache(path, cache)
    return choice


def probe_seconds(repeats: int = PROBE_REPEATS) -> dict[str, float]:
    """Seconds per forward+backward of a transformer block (width 256, 8x128 tokens) in fp32 and bf16.

    bf16 is autocast over fp32 weights, which is what training runs (accelerate mixed precision).
    """
    gen = torch.Generator().manual_seed(0)
    width = 256
    block = torch.nn.TransformerEncoderLayer(width, 4, 4 * width, dropout=0.0, batch_first=True)
    head = torch.nn.Linear(width, 2048)  # the LM head: a large share of a small model's FLOPs
    x = torch.randn(8, 128, width, generator=gen)

    def step(precision: str) -> float:
        with _autocast(precision):
            start = _timer()
            loss = head(block(x)).float().square().mean()
            loss.backward()
            return _timer() - start

    for p in ("fp32", "bf16"):  # warm-up: first calls pick and pack kernels
        step(p)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(repeats):
        for p in best:
            best[p] = min(best[p], step(p))
    return best


def _autocast(precision: str):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU lists bf16 instructions (x86 AVX512-BF16 or AMX-BF16; Linux only).

    Recorded beside the measurement; it does not decide (see the module docstring).
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # missing or corrupt: probe again and rewrite it
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, cache: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2))
        tmp.replace(path)  # atomic: several stages may probe at once
    except OSError:
        pass  # a read-only home only costs a probe per process
