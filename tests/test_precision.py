"""`precision: auto` picks bf16 only where the hardware runs it natively."""

import torch

from kaizen.models import loading
from kaizen.models.loading import cpu_has_native_bf16, resolve_precision


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 {flags}\n\n")
    return str(path)


def test_cpu_bf16_detected_from_the_flags(tmp_path):
    assert cpu_has_native_bf16.__wrapped__(_cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert cpu_has_native_bf16.__wrapped__(_cpuinfo(tmp_path, "amx_tile amx_bf16"))
    assert not cpu_has_native_bf16.__wrapped__(_cpuinfo(tmp_path, "avx2 avx512f avx512bw"))
    assert not cpu_has_native_bf16.__wrapped__(str(tmp_path / "missing"))


def test_auto_resolves_per_device(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("fp16", cpu) == "fp16"  # an explicit choice is kept


def test_stages_in_one_process_may_use_different_precisions():
    from kaizen.training.loop import make_accelerator

    assert make_accelerator("bf16").mixed_precision == "bf16"
    assert make_accelerator("fp32").mixed_precision == "no"  # `kaizen demo` runs every stage in one process
