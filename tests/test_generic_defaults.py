"""Generic commands never default into the demo world; a missing input is an error naming its key."""

from __future__ import annotations

import dataclasses

import pytest

from kaizen.cli import main as kaizen
from kaizen.config import to_dict
from kaizen.dpo import DPOConfig
from kaizen.eval import EvalConfig
from kaizen.loop import LoopConfig
from kaizen.ppo import PPOConfig
from kaizen.pretrain import PretrainConfig
from kaizen.rank import RankConfig
from kaizen.reward import RewardConfig
from kaizen.sft import SFTConfig


@pytest.mark.parametrize("cls", [PretrainConfig, SFTConfig, RankConfig, RewardConfig, PPOConfig, DPOConfig,
                                 LoopConfig, EvalConfig])
def test_no_default_points_into_the_demo_world(cls):
    def walk(v):
        if isinstance(v, dict):
            return [x for val in v.values() for x in walk(val)]
        if isinstance(v, list):
            return [x for val in v for x in walk(val)]
        return [v] if isinstance(v, str) else []

    assert dataclasses.is_dataclass(cls)
    assert not [v for v in walk(to_dict(cls())) if "world/" in v or v.endswith("/world")], cls.__name__


@pytest.mark.parametrize("argv, key", [
    (["pretrain"], "corpus"), (["sft", "--model", "m"], "data"), (["rank", "--policy", "m"], "world"),
    (["ppo", "--policy", "m", "--reward_model", "r"], "prompts"),
    (["ppo", "--policy", "m", "--reward_model", "r", "--prompts", "p"], "ptx_data"),
    (["loop"], "keys 'world' and 'sft_model"), (["loop", "--from_server", "sqlite:///x.db"], "judge"),
    (["eval"], "models"), (["eval", "--models", "a=m"], "prompts"),
])
def test_missing_inputs_are_named(argv, key, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert kaizen(argv) == 2
    err = capsys.readouterr().err
    assert f"config key '{key}'" in err or f"config {key}'" in err, err
