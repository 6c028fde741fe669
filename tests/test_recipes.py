"""Every shipped recipe in ``configs/`` parses into its stage's config; the demo recipes hold the
values ``kaizen demo`` uses; the real-model recipes chain their paths and come in full and LoRA."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from kaizen.config import load_yaml, parse_config
from kaizen.demo import DemoConfig
from kaizen.dpo import DPOConfig
from kaizen.evaluate import EvalConfig
from kaizen.loop import LoopConfig
from kaizen.ppo import PPOConfig
from kaizen.pretrain import PretrainConfig
from kaizen.rank import RankConfig
from kaizen.reward import RewardConfig
from kaizen.sft import SFTConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STAGES = {"pretrain": PretrainConfig, "sft": SFTConfig, "rank": RankConfig, "rm": RewardConfig, "ppo": PPOConfig,
          "dpo": DPOConfig, "eval": EvalConfig, "loop": LoopConfig}
RECIPES = sorted(CONFIGS.rglob("*.yaml"))
# Keys the demo fills in from --out (they differ between `kaizen demo` and a step-by-step run).
PATHS = {"model", "data", "eval_data", "out", "corpus", "heldout", "policy", "ref_model", "reward_model", "value_model",
         "prompts", "ptx_data", "world", "fewshot_policy", "demonstrations", "models", "fewshot", "sft_model"}


def stage_of(path: Path) -> str:
    return re.split(r"[-_]", path.stem)[0]  # sft-lora -> sft, ppo_ptx -> ppo


def parse(path: Path):
    return parse_config(STAGES[stage_of(path)], ["--config", str(path)])


def same_except_paths(a, b) -> dict:
    """Fields (other than paths) where two configs of one class differ."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
            if f.name not in PATHS and getattr(a, f.name) != getattr(b, f.name)}


def test_recipes_ship_and_each_names_its_stage():
    assert len(RECIPES) >= 17
    assert {stage_of(p) for p in RECIPES} <= set(STAGES), [p.name for p in RECIPES if stage_of(p) not in STAGES]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_recipe_parses_into_its_config_with_every_key_it_sets(path):
    cfg = parse(path)
    assert isinstance(cfg, STAGES[stage_of(path)])
    for key, value in load_yaml(path).items():
        if not isinstance(value, dict):  # a key the file sets is the value the config holds
            got = getattr(cfg, key)
            assert got == value or (isinstance(got, float) and float(value) == got), (key, got, value)


@pytest.mark.parametrize("name,section", [("pretrain", "pretrain"), ("sft", "sft"), ("rank", "rank"), ("rm", "rm"),
                                          ("ppo_ptx", "ppo"), ("dpo", "dpo"), ("eval", "eval")])
def test_demo_recipes_hold_the_demos_values(name, section):
    assert same_except_paths(parse(CONFIGS / "demo" / f"{name}.yaml"), getattr(DemoConfig(), section)) == {}


def test_demo_plain_ppo_differs_from_ppo_ptx_only_by_the_pretraining_mix():
    plain, demo = parse(CONFIGS / "demo" / "ppo.yaml"), DemoConfig().ppo
    assert plain.ptx_coef == 0.0 and same_except_paths(plain, demo) == {"ptx_coef": (0.0, demo.ptx_coef)}


def test_demo_loop_recipe_uses_the_demos_rm_and_ppo():
    loop, demo = parse(CONFIGS / "demo" / "loop.yaml"), DemoConfig()
    assert same_except_paths(loop.rm, demo.rm) == {} and same_except_paths(loop.ppo, demo.ppo) == {}
    assert (loop.rank.k, loop.rank.max_new_tokens) == (demo.rank.k, demo.rank.max_new_tokens)


def test_real_model_recipes_come_full_and_lora_and_chain_their_paths():
    real = CONFIGS / "qwen2.5-0.5b"
    for stage in ("sft", "rm", "ppo", "dpo"):
        full, lora = parse(real / f"{stage}.yaml"), parse(real / f"{stage}-lora.yaml")
        assert full.lora_r == 0 and lora.lora_r > 0
        assert lora.lr > full.lr  # adapters train at a larger rate (TRL's recipes: 10x)
        assert full.out != lora.out
    sft, rm, ppo, dpo = (parse(real / f"{s}.yaml") for s in ("sft", "rm", "ppo", "dpo"))
    assert rm.model == dpo.model == ppo.policy == f"{sft.out}/model"
    assert ppo.reward_model == f"{rm.out}/model"
    assert ppo.kl_coef == 0.02 and 0 < ppo.ptx_coef < 1  # InstructGPT's β; a mix that does not pretrain back
