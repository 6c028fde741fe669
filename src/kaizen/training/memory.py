"""Peak-memory arithmetic of a training step: weights, gradients, Adam states, activations, KV cache.

Pure functions of a model's shape and a stage's batch (no model is built). Activations follow
Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", §4.1):
per layer and token a block keeps its inputs, q/k/v, the attention output, both norms' outputs
and the MLP's intermediate tensors; here, without dropout masks and with fused (flash / SDPA)
attention, that is ``10·h + 4·i`` values (``2·h`` per token with gradient checkpointing). The
loss keeps the logits and their float32 softmax and gradient (``3·V`` floats per token).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    params: int
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    kv_dim: int  # key/value width per token and layer (hidden, or less with grouped-query attention)

    @classmethod
    def from_config(cls, config, params: int) -> ModelShape:
        hidden = getattr(config, "hidden_size", None) or config.n_embd
        layers = getattr(config, "num_hidden_layers", None) or config.n_layer
        inter = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
        heads = getattr(config, "num_attention_heads", None) or config.n_head
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        return cls(params, hidden, layers, inter, config.vocab_size, hidden // heads * kv_heads)


@dataclass(frozen=True)
class StepShape:
    """What one optimizer step holds at once."""

    micro_batch: int  # sequences in one forward / backward
    seq_len: int
    trainable_fraction: float = 1.0  # LoRA / prompt tuning train a sliver
    param_bytes: int = 4  # weights stay fp32; bf16 autocast computes in bf16
    activation_bytes: int = 4  # 2 under bf16 / fp16 autocast
    gradient_checkpointing: bool = False
    frozen_copies: int = 0  # reference / reward models held beside the trained one (same shape)
    trained_copies: int = 1  # PPO also trains a value model
    kv_cache_tokens: int = 0  # batch x (prompt + new tokens) of generation (PPO rollouts)


@dataclass(frozen=True)
class MemoryEstimate:
    parts: dict[str, int] = field(default_factory=dict)  # bytes

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def table(self) -> str:
        rows = [f"  {name:<12} {b / GIB:8.3f} GiB" for name, b in self.parts.items()]
        return "\n".join(rows + [f"  {'total':<12} {self.total / GIB:8.3f} GiB"])


def estimate_memory(model: ModelShape, step: StepShape, runtime_bytes: int = 0) -> MemoryEstimate:
    """Bytes at the peak of a step (after the backward, before the optimizer frees the graph)."""
    trainable = int(model.params * step.trainable_fraction) * step.trained_copies
    tokens = step.micro_batch * step.seq_len
    per_token_layer = 2 * model.hidden if step.gradient_checkpointing else 10 * model.hidden + 4 * model.intermediate
    activations = tokens * model.layers * per_token_layer * step.activation_bytes
    logits = tokens * model.vocab * (step.activation_bytes + 2 * 4)
    parts = {
        "weights": model.params * step.param_bytes * (step.trained_copies + step.frozen_copies),
        "gradients": trainable * 4,
        "adam": trainable * 8,  # two float32 moments
        "activations": activations * step.trained_copies + logits,
        "kv_cache": 2 * model.layers * model.kv_dim * step.kv_cache_tokens * step.activation_bytes,
        "runtime": runtime_bytes,
    }
    return MemoryEstimate(parts)


def advice(est: MemoryEstimate, available: int, step: StepShape) -> list[str]:
    """What to change when ``est`` does not fit in ``available`` bytes, biggest saving first."""
    if est.total <= available:
        return []
    tips = []
    if est.parts["activations"] > 0.2 * est.total:
        if not step.gradient_checkpointing:
            tips.append("--gradient_checkpointing true (activations kept: 2h instead of 10h + 4i per token and layer)")
        if step.micro_batch > 1:
            tips.append(f"--batch_size {max(1, step.micro_batch // 2)} with --grad_accum doubled (same global batch)")
    if step.trainable_fraction >= 1.0:
        tips.append("--lora_r 16 (gradients and Adam states for ~1% of the weights); on a GPU add --load_in_4bit")
    if step.param_bytes == 4:
        tips.append("more processes with FSDP or DeepSpeed ZeRO to shard weights, gradients and Adam states "
                    "(--accelerate_config docs/distributed/fsdp.yaml)")
    return tips
