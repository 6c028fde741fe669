"""A separate small model for the prompting section: pretrained with digits, fine-tuned on the formats.

    from kaizen.prompting.reasoning_model import ReasoningModelConfig, train_reasoning_model
    model_dir = train_reasoning_model(ReasoningModelConfig(), "runs/world", "runs/reasoning-model", seed=0)

The demo's chat model cannot be prompted into reasoning (docs/prompting.md): its pretraining
corpus has almost no digits, its BPE spells one number several ways ("24", " 24", "24."), and the
reasoning rows are a third of an SFT mix that runs three epochs. Chain-of-thought, voting and
ReAct only help a model that can do each step, above all copy a number or a name from its
context. This model is built for that, from the same world and nothing else:

1. a byte-level BPE that splits every digit into its own token (``split_digits``, as Llama and
   Qwen do), trained on the pretraining text;
2. pretraining on the world's corpus plus ``corpus_reasoning.jsonl`` (plain arithmetic, nothing
   about the world). Never on the price notices: a held-out price stays knowable only by search;
3. SFT on reasoning demonstrations alone, ``demo_scale`` times the world's train items
   (``kaizen.world.reasoning.build.more_demonstrations``: the same train split, no held-out prompt).

The chat/RLHF chain keeps the demo's own model; the reward model ranks that one's answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import arg


@dataclass(frozen=True)
class ReasoningModelConfig:
    """The prompting section's own model (pretrain + SFT on the reasoning formats)."""

    split_digits: bool = arg(True, "One token per digit in the model's BPE tokenizer.")
    vocab_size: int = arg(2048, "BPE vocabulary size (the demo's).")
    # Sized to a starved CPU (docs/prompting.md): 1.0M parameters, 300 x 8 x 256 pretraining tokens and
    # 2 SFT epochs took 27 wall minutes beside a demo run with priority (~5 minutes on a free 2-core CPU).
    hidden_size: int = arg(128, "Model width (the chat model's is 192).")
    num_layers: int = arg(4, "Transformer blocks.")
    num_heads: int = arg(4, "Attention heads.")
    pretrain_steps: int = arg(300, "Pretraining steps.")
    pretrain_batch_size: int = arg(8, "Pretraining sequences of 256 tokens per step.")
    pretrain_arithmetic_copies: int = arg(2, "Times corpus_reasoning.jsonl is repeated in the pretraining mix.")
    demo_scale: int = arg(2, "Train items per world train item for SFT (distinct items; capped by the train split).")
    sft_epochs: int = arg(2, "SFT passes over the demonstrations.")
    sft_lr: float = arg(1e-3, "SFT peak learning rate (pretraining's is 2e-3; the chat SFT's 3e-4).")
    sft_batch_size: int = arg(16, "SFT conversations per step.")


def train_reasoning_model(cfg: ReasoningModelConfig, world_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Pretrain and fine-tune the reasoning model under ``out_dir``; returns its model directory."""
    from kaizen import pretrain, sft
    from kaizen.data.formats import load_records
    from kaizen.data.jsonl import write_jsonl
    from kaizen.models.tokenizer import train_bpe_tokenizer
    from kaizen.world.reasoning.build import more_demonstrations

    world, out = Path(world_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "sft" / "model" / "config.json").exists():
        return out / "sft" / "model"
    t0 = time.perf_counter()
    corpus = [str(world / "corpus_train.jsonl")] + [str(world / "corpus_reasoning.jsonl")] * cfg.pretrain_arithmetic_copies
    tokenizer = train_bpe_tokenizer((t for src in corpus[:2] for t in load_records(src, "text")),
                                    vocab_size=cfg.vocab_size, split_digits=cfg.split_digits)
    tokenizer.save_pretrained(out / "tokenizer")
    base = pretrain.run(pretrain.PretrainConfig(
        corpus=corpus, heldout=str(world / "corpus_heldout.jsonl"), tokenizer=str(out / "tokenizer"),
        out=str(out / "pretrain"), hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
        max_steps=cfg.pretrain_steps, batch_size=cfg.pretrain_batch_size, eval_every=0, save_every=0, precision="fp32", seed=seed))
    t1 = time.perf_counter()
    rows = more_demonstrations(world, cfg.demo_scale)
    write_jsonl(out / "sft_reasoning_train.jsonl", rows)
    model = sft.run(sft.SFTConfig(
        model=str(base), data=[str(out / "sft_reasoning_train.jsonl")], out=str(out / "sft"), lr=cfg.sft_lr,
        epochs=cfg.sft_epochs, batch_size=cfg.sft_batch_size, warmup_steps=10, eval_every=0, save_every=0,
        precision="fp32", seed=seed))
    info = {"pretrain_seconds": round(t1 - t0, 1), "sft_seconds": round(time.perf_counter() - t1, 1),
            "sft_rows": len(rows), "pretrain": json.loads((out / "pretrain" / "eval.json").read_text()),
            "sft": json.loads((out / "sft" / "eval.json").read_text())}
    (out / "reasoning_model.json").write_text(json.dumps(info, indent=2))
    return Path(model)
