"""Step 0: train a tokenizer and a decoder-only Transformer from scratch on a text corpus.

    kaizen pretrain --corpus runs/world/corpus_train.jsonl --heldout runs/world/corpus_heldout.jsonl \
        --arch llama --out runs/pretrain

The model learns next-token prediction (MISSION: "a probabilistic model of the next token") and
is saved as a standard `transformers` directory under ``OUT/model``; held-out perplexity is
reported at every evaluation and written to ``OUT/eval.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import ConfigError, arg, parse_config
from kaizen.data.formats import load_records
from kaizen.lazy import lazy_import
from kaizen.models.architectures import Architecture, ModelSize, build_config
from kaizen.models.loading import load_tokenizer, resolve_precision
from kaizen.models.tokenizer import train_bpe_tokenizer
from kaizen.training.batching import BatchPlan, pack_token_stream
from kaizen.training.lm import lm_loss, mean_nll, padded_batches
from kaizen.training.loop import LoopSettings, fit
from kaizen.training.rundir import prepare_run_dir

torch = lazy_import("torch")


@dataclass(frozen=True)
class PretrainConfig:
    """Step 0: tokenizer + decoder-only LM from scratch."""

    corpus: list[str] = arg([], "Training text: .txt / .jsonl / .parquet files, a saved dataset dir, or a hub dataset id; required.")
    heldout: str | None = arg(None, "Held-out text for perplexity (same kinds of source); none to skip.")
    out: str = arg("runs/pretrain", "Run directory; the model is saved to OUT/model.")
    tokenizer: str | None = arg(None, "Use this tokenizer (path or hub id) instead of training a byte-level BPE.")
    vocab_size: int = arg(2048, "Vocabulary size of the trained BPE tokenizer.")
    arch: Architecture = arg("llama", "Transformer architecture.")
    hidden_size: int = arg(192, "Model width.")
    num_layers: int = arg(4, "Transformer blocks.")
    num_heads: int = arg(4, "Attention heads.")
    intermediate_size: int | None = arg(None, "MLP width (default: architecture's usual multiple of hidden_size).")
    block_size: int = arg(256, "Tokens per training sequence (documents are packed).")
    batch_size: int = arg(16, "Sequences per micro-batch.")
    grad_accum: int = arg(1, "Micro-batches per optimizer step.")
    max_steps: int = arg(600, "Optimizer steps.")
    lr: float = arg(2e-3, "Peak learning rate (small models tolerate large rates).")
    warmup_steps: int = arg(30, "Linear warm-up steps.")
    weight_decay: float = arg(0.1, "AdamW weight decay on matrices.")
    precision: str = arg("auto", "auto | fp32 | bf16 | fp16 (auto: the faster of bf16 and fp32 here, measured once and cached).")
    seed: int = arg(0, "Seed for init and batch order.")
    eval_every: int = arg(200, "Evaluate held-out perplexity every N steps (0: at the end only).")
    save_every: int = arg(200, "Checkpoint every N steps for resume (0: never).")
    log_every: int = arg(10, "Log training metrics every N steps.")
    max_eval_blocks: int = arg(64, "Cap on held-out blocks evaluated.")


def tokenize_corpus(tokenizer, texts: list[str], block_size: int) -> list[list[int]]:
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return pack_token_stream(ids, block_size, tokenizer.eos_token_id)


def run(cfg: PretrainConfig) -> Path:
    from transformers import AutoModelForCausalLM

    if not cfg.corpus:
        raise ConfigError("config key 'corpus': give the training text (--corpus FILE ...)")
    run_dir = prepare_run_dir(cfg.out, cfg, "pretrain")
    texts = [t for src in cfg.corpus for t in load_records(src, "text")]
    if cfg.tokenizer:
        tokenizer = load_tokenizer(cfg.tokenizer)
    else:
        tokenizer = train_bpe_tokenizer(texts, vocab_size=cfg.vocab_size)
    blocks = tokenize_corpus(tokenizer, texts, cfg.block_size)
    if not blocks:
        raise ValueError(f"corpus {cfg.corpus} is shorter than one block of {cfg.block_size} tokens")
    heldout = tokenize_corpus(tokenizer, load_records(cfg.heldout, "text"), cfg.block_size)[: cfg.max_eval_blocks] if cfg.heldout else []
    print(f"pretrain: {len(texts)} documents -> {len(blocks)} blocks of {cfg.block_size} tokens, "
          f"{len(heldout)} held-out blocks, vocab {len(tokenizer)}")

    torch.manual_seed(cfg.seed)
    size = ModelSize(cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.intermediate_size, max_positions=max(cfg.block_size, 512))
    config = build_config(cfg.arch, size, len(tokenizer), tokenizer.bos_token_id or tokenizer.eos_token_id,
                          tokenizer.eos_token_id, tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_config(config)
    print(f"pretrain: {cfg.arch} model with {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")

    plan = BatchPlan([cfg.block_size] * len(blocks), cfg.batch_size, cfg.seed, bucket_by_length=False)

    def collate(idx: list[int]) -> dict[str, torch.Tensor]:
        ids = torch.tensor([blocks[i] for i in idx])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}

    settings = LoopSettings(
        lr=cfg.lr, max_steps=cfg.max_steps, grad_accum=cfg.grad_accum, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, precision=resolve_precision(cfg.precision), seed=cfg.seed,
        log_every=cfg.log_every, eval_every=cfg.eval_every, save_every=cfg.save_every, desc="pretrain",
    )
    result = fit(model, plan, collate, lm_loss, settings, run_dir,
                 eval_fn=(lambda m: mean_nll(m, padded_batches(heldout, None, tokenizer.pad_token_id))) if heldout else None)
    model_dir = result.save_model(tokenizer, run_dir / "model")
    summary = {"steps": result.steps, "train_loss": result.final_loss, **{f"heldout_{k}": v for k, v in result.eval_metrics.items()}}
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"pretrain: held-out perplexity {summary.get('heldout_perplexity', float('nan')):.2f}; model saved to {model_dir}")
    return model_dir


def main(argv: list[str]) -> int:
    run(parse_config(PretrainConfig, argv, prog="kaizen pretrain"))
    return 0
