"""2 processes (gloo, CPU) give the 1-process loss curve with the same global batch, per stage.

One process accumulates 2 micro-batches per step; two processes take one each (fit gives every
process every world_size-th micro-batch and normalises by the step's global item count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kaizen.data.jsonl import write_jsonl
from kaizen.dpo import DPOConfig
from kaizen.dpo import run as run_dpo
from kaizen.ppo import PPOConfig
from kaizen.ppo import run as run_ppo
from kaizen.reward import RewardConfig
from kaizen.reward import run as run_rm
from kaizen.sft import SFTConfig
from kaizen.sft import run as run_sft
from kaizen.training.launch import launch_command, split_launch_args
from conftest import sample_sentences
from test_dpo import _pref_rows
from test_reward import marker_rankings

STEPS = 3
TESTS = Path(__file__).parent


def _losses(run_dir: Path, key: str = "train/loss") -> list[float]:
    return [json.loads(line)[key] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if key in line]


def _env() -> dict[str, str]:
    src = str(TESTS.parent / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(TESTS), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def test_launch_flags_are_taken_off_the_stage_command():
    opts, rest = split_launch_args(["--config", "a.yaml", "--num-processes", "2", "--lr", "1e-3",
                                    "--accelerate_config=fsdp.yaml"])
    assert (opts.num_processes, opts.accelerate_config, rest) == (2, "fsdp.yaml", ["--config", "a.yaml", "--lr", "1e-3"])
    cmd, env = launch_command("sft", rest, opts, has_gpu=False)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and cmd[-6:] == ["kaizen", "sft", *rest]
    assert ["--config_file", "fsdp.yaml"] == cmd[3:5] and "--num_processes" in cmd and env["ACCELERATE_USE_CPU"] == "true"
    assert not split_launch_args(["--lr", "1"])[0].wanted
    with pytest.raises(ValueError, match="positive integer"):
        split_launch_args(["--num_processes", "two"])


@pytest.mark.slow
def test_sft_two_processes_through_the_cli_equal_one(tiny_model_factory, tiny_sft_data, tmp_path):
    model = tiny_model_factory("llama")
    cfg = dict(model=str(model), data=[str(tiny_sft_data)], eval_data=None, batch_size=2, max_steps=STEPS, lr=3e-3,
               warmup_steps=0, save_every=0, log_every=1, max_length=96, precision="fp32")
    run_sft(SFTConfig(**cfg, out=str(tmp_path / "one"), grad_accum=2))
    (tmp_path / "two.yaml").write_text(yaml.safe_dump({**cfg, "out": str(tmp_path / "two"), "grad_accum": 1}))
    proc = subprocess.run([sys.executable, "-m", "kaizen", "sft", "--config", str(tmp_path / "two.yaml"),
                           "--num_processes", "2"], env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == STEPS
    assert all(abs(a - b) < 1e-4 for a, b in zip(one, two)), (one, two)


@pytest.mark.slow
def test_rm_dpo_and_ppo_two_processes_equal_one(tiny_model_factory, tmp_path):
    model = str(tiny_model_factory("llama"))
    write_jsonl(tmp_path / "rankings.jsonl", [r.to_dict() for r in marker_rankings(24)])
    write_jsonl(tmp_path / "prefs.jsonl", _pref_rows(16))
    rm = dict(model=model, data=[str(tmp_path / "rankings.jsonl")], demonstrations=None, eval_fraction=0.2,
              batch_size=2, max_steps=STEPS, lr=3e-3, warmup_steps=0, save_every=0, log_every=1, max_length=96,
              precision="fp32")
    dpo = dict(model=model, data=[str(tmp_path / "prefs.jsonl")], eval_data=None, batch_size=2, max_steps=STEPS,
               lr=1e-3, beta=0.1, warmup_steps=0, save_every=0, log_every=1, max_length=96, precision="fp32")
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": s} for s in sample_sentences(16, seed=5)])
    write_jsonl(tmp_path / "corpus.jsonl", [{"text": " ".join(sample_sentences(8, seed=i))} for i in range(20)])
    # PPO: every process samples and scores the whole rollout; each takes half of every minibatch.
    ppo = dict(policy=model, reward_model=model, prompts=[str(tmp_path / "prompts.jsonl")],
               ptx_data=[str(tmp_path / "corpus.jsonl")], iterations=STEPS, rollout_batch_size=8, ppo_epochs=1,
               minibatch_size=4, lr=3e-3, value_lr=3e-3, max_new_tokens=8, ptx_block_size=32, ptx_coef=0.5,
               save_every=0, precision="fp32", missing_eos_penalty=None)
    run_rm(RewardConfig(**rm, out=str(tmp_path / "rm1"), grad_accum=2))
    run_dpo(DPOConfig(**dpo, out=str(tmp_path / "dpo1"), grad_accum=2))
    run_ppo(PPOConfig(**ppo, out=str(tmp_path / "ppo1")))
    spec = [["rm", {**rm, "out": str(tmp_path / "rm2"), "grad_accum": 1}],
            ["dpo", {**dpo, "out": str(tmp_path / "dpo2"), "grad_accum": 1}],
            ["ppo", {**ppo, "out": str(tmp_path / "ppo2")}]]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    cmd, env = launch_command("unused", [], split_launch_args(["--num_processes", "2"])[0], has_gpu=False)
    cmd = cmd[: cmd.index("-m", 3)] + [str(TESTS / "distributed_job.py"), str(tmp_path / "spec.json")]
    proc = subprocess.run(cmd, env={**_env(), **env}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "process 1 of 2" in proc.stdout
    for stage in ("rm", "dpo"):
        one, two = _losses(tmp_path / f"{stage}1"), _losses(tmp_path / f"{stage}2")
        assert len(one) == len(two) == STEPS, stage
        assert all(abs(a - b) < 1e-4 for a, b in zip(one, two)), (stage, one, two)
    for key in ("ppo/policy_loss", "ppo/value_loss", "ppo/ptx_loss", "ppo/rm_score", "ppo/kl"):
        one, two = _losses(tmp_path / "ppo1", key), _losses(tmp_path / "ppo2", key)
        assert len(one) == len(two) == STEPS, key
        assert all(abs(a - b) < 1e-4 for a, b in zip(one, two)), (key, one, two)


@pytest.mark.parametrize("name", ["multi-node-ddp.yaml", "fsdp.yaml", "deepspeed-zero2.yaml"])
def test_documented_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(TESTS.parent / "docs" / "distributed" / name))
    assert cfg.num_processes >= 8 and cfg.distributed_type.value in ("MULTI_GPU", "FSDP", "DEEPSPEED")
