"""`precision: auto` picks what a short probe measured to be faster here, and caches it per machine."""

import json

import pytest
import torch

from kaizen.models import precision
from kaizen.models.precision import cpu_has_native_bf16, cpu_model, measured_cpu_precision, resolve_precision


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 {flags}\n\n")
    return str(path)


@pytest.fixture
def fake_clock(monkeypatch, tmp_path):
    """A clock where each timed fp32 step takes 1 s and each bf16 one `bf16_cost` s; the cache in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    measured_cpu_precision.cache_clear()
    state = {"now": 0.0, "bf16_cost": 2.0, "probes": 0}

    def clock():
        # A step's time is the advance at its closing call (each call moves the clock by one step's cost).
        state["now"] += state["bf16_cost"] if torch.is_autocast_enabled("cpu") else 1.0
        return state["now"]

    real_probe = precision.probe_seconds

    def counted_probe(*a, **kw):
        state["probes"] += 1
        return real_probe(*a, **kw)

    monkeypatch.setattr(precision, "_timer", clock)
    monkeypatch.setattr(precision, "probe_seconds", counted_probe)
    yield state
    measured_cpu_precision.cache_clear()


def test_probe_times_both_precisions(fake_clock):
    fake_clock["bf16_cost"] = 0.25
    assert precision.probe_seconds() == {"fp32": 1.0, "bf16": 0.25}


def test_auto_is_fp32_where_bf16_is_slower_whatever_the_flags(fake_clock, monkeypatch):
    # The Xeon of issue 8: AVX512-BF16 listed, no AMX, bf16 autocast slower than fp32.
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    fake_clock["bf16_cost"] = 1.5
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_auto_is_bf16_where_it_is_clearly_faster(fake_clock):
    fake_clock["bf16_cost"] = 0.55  # the 2-core EPYC: 1.8x
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"


def test_a_near_tie_stays_fp32(fake_clock):
    fake_clock["bf16_cost"] = 0.95  # within BF16_MIN_SPEEDUP
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_choice_is_cached_per_machine_and_torch_version(fake_clock, monkeypatch):
    fake_clock["bf16_cost"] = 0.5
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    cache = json.loads(precision.cache_path().read_text())
    (entry,) = cache.values()
    assert entry["choice"] == "bf16" and entry["seconds_per_step"] == {"fp32": 1.0, "bf16": 0.5}
    assert precision.machine_key() in cache and torch.__version__ in precision.machine_key()

    measured_cpu_precision.cache_clear()  # a new process: reads the file, does not probe
    fake_clock["bf16_cost"] = 3.0
    assert resolve_precision("auto", torch.device("cpu")) == "bf16" and fake_clock["probes"] == 1

    measured_cpu_precision.cache_clear()  # another torch: measured again, both entries kept
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32" and fake_clock["probes"] == 2
    assert len(json.loads(precision.cache_path().read_text())) == 2


def test_corrupt_cache_is_measured_again(fake_clock):
    precision.cache_path().parent.mkdir(parents=True)
    precision.cache_path().write_text("{not json")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32" and fake_clock["probes"] == 1


def test_explicit_precision_is_kept(fake_clock):
    assert resolve_precision("fp16", torch.device("cpu")) == "fp16"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert fake_clock["probes"] == 0


def test_real_probe_measures_both_precisions():
    # No wall-clock bound here: durations belong in bench/, and this CPU's speed varies with load.
    seconds = precision.probe_seconds(repeats=1)
    assert set(seconds) == {"fp32", "bf16"} and all(s > 0 for s in seconds.values())


def test_cpu_flags_and_model_are_read(tmp_path):
    assert cpu_has_native_bf16.__wrapped__(_cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert cpu_has_native_bf16.__wrapped__(_cpuinfo(tmp_path, "amx_tile amx_bf16"))
    assert not cpu_has_native_bf16.__wrapped__(_cpuinfo(tmp_path, "avx2 avx512f avx512bw"))
    assert not cpu_has_native_bf16.__wrapped__(str(tmp_path / "missing"))
    assert cpu_model(_cpuinfo(tmp_path, "")) == "Test CPU 9000"


def test_stages_in_one_process_may_use_different_precisions():
    from kaizen.training.loop import make_accelerator

    assert make_accelerator("bf16").mixed_precision == "bf16"
    assert make_accelerator("fp32").mixed_precision == "no"  # `kaizen demo` runs every stage in one process
