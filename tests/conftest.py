"""Shared fixtures: tiny tokenizers and tiny random models of several architectures, built locally."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from kaizen.data.jsonl import write_jsonl
from kaizen.models.architectures import ModelSize, build_config
from kaizen.models.loading import save_pretrained
from kaizen.models.tokenizer import train_bpe_tokenizer

WORDS = ("the capital of zorland is mirepa . a fox named pim likes red berries . what is the river of "
         "veloria ? it is the blue lune . please write a short poem about the sea . i can not help with that . "
         "thank you , that was helpful . list three foods people like : bread , soup and figs .").split()


def sample_sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))) for _ in range(n)]


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return train_bpe_tokenizer(sample_sentences(400), vocab_size=320)


def make_tiny_model(tokenizer, arch: str, out: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    from transformers import AutoModelForCausalLM

    cfg = build_config(arch, ModelSize(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_positions=256),
                       len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_config(cfg)
    return save_pretrained(model, tokenizer, out)


@pytest.fixture(scope="session")
def tiny_model_factory(tiny_tokenizer, tmp_path_factory):
    cache: dict[str, Path] = {}

    def factory(arch: str = "llama") -> Path:
        if arch not in cache:
            cache[arch] = make_tiny_model(tiny_tokenizer, arch, tmp_path_factory.mktemp(f"tiny-{arch}"))
        return cache[arch]

    return factory


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A demo world at the smallest size its generator allows (seconds to build)."""
    from kaizen.world import WorldConfig, build_world

    return build_world(WorldConfig(out=str(tmp_path_factory.mktemp("world")), n_entities=30, corpus_docs=40,
                                   corpus_heldout_docs=10, train_prompts=40, heldout_prompts=36, n_labelers=3))


@pytest.fixture(scope="session")
def tiny_sft_data(tmp_path_factory) -> Path:
    rng = random.Random(1)
    rows = []
    for i in range(24):
        q, a = sample_sentences(2, seed=i)
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if i % 3 == 0:  # multi-turn
            q2, a2 = sample_sentences(2, seed=100 + i)
            msgs += [{"role": "user", "content": q2}, {"role": "assistant", "content": a2}]
        if rng.random() < 0.3:
            msgs.insert(0, {"role": "system", "content": "You are a helpful assistant."})
        rows.append({"messages": msgs})
    path = tmp_path_factory.mktemp("sftdata") / "sft.jsonl"
    write_jsonl(path, rows)
    return path


from transformers.utils import logging as _hf_logging  # noqa: E402

_hf_logging.set_verbosity_error()
_hf_logging.disable_progress_bar()


def reasoning_world(small_world: Path, tmp_path_factory, name: str, **sizes) -> Path:
    """A copy of ``small_world`` with the reasoning world's files added at ``sizes`` (ReasoningConfig fields)."""
    import shutil

    from kaizen.world.reasoning import ReasoningConfig, build_reasoning

    d = tmp_path_factory.mktemp(name) / "world"
    shutil.copytree(small_world, d)
    build_reasoning(ReasoningConfig(world=str(d), **sizes))
    return d
