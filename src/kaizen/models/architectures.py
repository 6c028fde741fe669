"""Decoder-only Transformer configs for training from scratch (Step 0).

One size description maps onto each supported `transformers` architecture, so a tiny test model
and the demo's model are real Llama / GPT-2 / Qwen2 / GPT-NeoX models that `transformers`,
`peft` and vLLM load like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from transformers import PretrainedConfig

Architecture = Literal["llama", "gpt2", "qwen2", "gpt_neox"]
ARCHITECTURES: tuple[str, ...] = ("llama", "gpt2", "qwen2", "gpt_neox")


@dataclass(frozen=True)
class ModelSize:
    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int | None = None  # default 4 x hidden (GPT-2) or 8/3 x hidden rounded (Llama-style)
    max_positions: int = 512


def build_config(arch: str, size: ModelSize, vocab_size: int, bos_token_id: int, eos_token_id: int,
                 pad_token_id: int) -> PretrainedConfig:
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, Qwen2Config

    h, n, heads = size.hidden_size, size.num_layers, size.num_heads
    special = dict(bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
    if arch == "llama" or arch == "qwen2":
        inter = size.intermediate_size or 64 * round(8 * h / 3 / 64) or 4 * h
        cls = LlamaConfig if arch == "llama" else Qwen2Config
        return cls(vocab_size=vocab_size, hidden_size=h, intermediate_size=inter, num_hidden_layers=n,
                   num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=size.max_positions,
                   tie_word_embeddings=True, **special)
    if arch == "gpt2":
        return GPT2Config(vocab_size=vocab_size, n_embd=h, n_layer=n, n_head=heads, n_positions=size.max_positions,
                          n_inner=size.intermediate_size, **special)
    if arch == "gpt_neox":
        return GPTNeoXConfig(vocab_size=vocab_size, hidden_size=h, intermediate_size=size.intermediate_size or 4 * h,
                             num_hidden_layers=n, num_attention_heads=heads, max_position_embeddings=size.max_positions,
                             tie_word_embeddings=False, **special)
    raise ValueError(f"unknown architecture '{arch}'; choose one of {ARCHITECTURES}")
