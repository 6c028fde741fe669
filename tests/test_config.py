from dataclasses import dataclass
from typing import Literal

import pytest

from kaizen.config import ConfigError, arg, parse_config


@dataclass(frozen=True)
class Inner:
    beta: float = arg(0.02, "KL coefficient.")


@dataclass(frozen=True)
class Cfg:
    lr: float = arg(1e-4, "Learning rate.")
    steps: int = arg(10, "Steps.")
    name: str | None = arg(None, "Name.")
    arch: Literal["llama", "gpt2"] = arg("llama", "Architecture.")
    data: list[str] = arg(["a.jsonl"], "Files.")
    lora: bool = arg(False, "LoRA.")
    ppo: Inner = arg(Inner, "Nested section.")


def test_defaults_yaml_and_flags(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("lr: 0.001\nsteps: 5\nppo:\n  beta: 0.1\ndata: [x.jsonl, y.jsonl]\n")
    cfg = parse_config(Cfg, ["--config", str(y), "--lr", "3e-4", "--lora", "--ppo.beta", "0.05"])
    assert cfg.lr == 3e-4 and cfg.steps == 5 and cfg.lora is True
    assert cfg.ppo.beta == 0.05 and cfg.data == ["x.jsonl", "y.jsonl"]
    assert parse_config(Cfg, []).data == ["a.jsonl"]
    assert parse_config(Cfg, ["--data", "p", "q", "--no-lora"]).data == ["p", "q"]


def test_unknown_yaml_key_is_named(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("lr: 0.001\nsteeps: 5\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'steeps'.*did you mean 'steps'"):
        parse_config(Cfg, ["--config", str(y)])
    y.write_text("ppo:\n  betta: 1\n")
    with pytest.raises(ConfigError, match=r"'ppo.betta'"):
        parse_config(Cfg, ["--config", str(y)])


def test_unknown_flag_and_bad_types_are_named():
    with pytest.raises(ConfigError, match=r"'--lrr'.*did you mean '--lr'"):
        parse_config(Cfg, ["--lrr", "1"])
    with pytest.raises(ConfigError, match=r"'steps'.*'ten' is not a valid int"):
        parse_config(Cfg, ["--steps", "ten"])
    with pytest.raises(ConfigError, match=r"'arch'.*not one of"):
        parse_config(Cfg, ["--arch", "bert"])


def test_config_is_frozen():
    cfg = parse_config(Cfg, [])
    with pytest.raises(Exception):
        cfg.lr = 1.0  # type: ignore[misc]


@dataclass(frozen=True)
class Pipeline:
    out: str = arg("demo", "Output.")
    ppo: Inner = arg(Inner(beta=0.5), "A section whose defaults differ from the class's.")


def test_nested_section_keeps_its_own_defaults(tmp_path):
    assert parse_config(Pipeline, []).ppo.beta == 0.5
    y = tmp_path / "p.yaml"
    y.write_text("out: x\n")
    assert parse_config(Pipeline, ["--config", str(y)]).ppo.beta == 0.5
    assert parse_config(Pipeline, ["--ppo.beta", "0.1"]).ppo.beta == 0.1
