"""Step 1: supervised fine-tuning on demonstrations, loss on assistant tokens only.

    kaizen sft --model runs/pretrain/model --data runs/world/sft_train.jsonl --out runs/sft
    kaizen sft --model Qwen/Qwen2.5-0.5B --data my_demos.jsonl --lora_r 16 --out runs/sft-qwen

Any causal LM (hub id or path) and any demonstration format ``kaizen data`` reads (TRL
``messages`` / ``prompt``+``completion``, Alpaca, ShareGPT, Kaizen rankings' best answer).
Multi-turn conversations train on every assistant turn. Batches are bucketed by length;
gradient accumulation normalises by the step's target tokens; bf16 where the GPU has it;
checkpoints every ``save_every`` steps and a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import ConfigError, arg, parse_config
from kaizen.data.chat import tokenize_conversation
from kaizen.data.formats import load_records
from kaizen.lazy import lazy_import
from kaizen.models.adapters import AdapterSettings, apply_adapter, four_bit_config
from kaizen.models.loading import load_causal_lm, load_tokenizer, resolve_precision
from kaizen.training.batching import BatchPlan, pad_batch
from kaizen.training.lm import lm_loss, mean_nll, padded_batches
from kaizen.training.loop import LoopSettings, fit
from kaizen.training.rundir import prepare_run_dir

torch = lazy_import("torch")


@dataclass(frozen=True)
class SFTConfig:
    """Step 1: supervised fine-tuning on demonstrations."""

    model: str = arg("runs/pretrain/model", "Causal LM to fine-tune: a local directory or a hub id.")
    data: list[str] = arg([], "Demonstration files / dataset dirs / hub ids; required.")
    eval_data: str | None = arg(None, "Held-out demonstrations for eval loss; none to skip.")
    skip_bad_rows: bool = arg(False, "Skip rows that fail validation (logged: how many, and why) instead of stopping.")
    max_bad_share: float = arg(0.05, "With skip_bad_rows: stop anyway when more than this share of a source's rows "
                                     "is bad (a wrong file, not a few broken rows).")
    out: str = arg("runs/sft", "Run directory; the model is saved to OUT/model.")
    max_length: int = arg(512, "Longest tokenized conversation; longer ones are truncated (and counted).")
    batch_size: int = arg(16, "Conversations per micro-batch.")
    grad_accum: int = arg(1, "Micro-batches per optimizer step.")
    epochs: int = arg(3, "Passes over the data (ignored when max_steps is set).")
    max_steps: int | None = arg(None, "Optimizer steps; overrides epochs.")
    lr: float = arg(2e-5, "Peak learning rate. 2e-5: TRL's full fine-tuning recipe for 0.5B models; LoRA takes ~10x "
                          "(2e-4); the demo's tiny from-scratch model 3e-4 (configs/).")
    warmup_steps: int = arg(10, "Linear warm-up steps.")
    weight_decay: float = arg(0.0, "AdamW weight decay on matrices.")
    train_on_prompt: bool = arg(False, "Take the loss on every token, not only assistant turns (never on an answer "
                                       "marked weight 0).")
    lora_r: int = arg(0, "LoRA rank (0: full fine-tuning). The merged model is saved to OUT/model, the adapter to OUT/adapter.")
    lora_alpha: int = arg(32, "LoRA scaling alpha.")
    lora_dropout: float = arg(0.05, "LoRA dropout.")
    prompt_tuning_tokens: int = arg(0, "Prompt tuning instead (0: off): train only this many virtual token "
                                       "embeddings; OUT/model is then a peft adapter on the frozen base.")
    load_in_4bit: bool = arg(False, "QLoRA: the frozen base in 4-bit NF4 under the LoRA adapters (bitsandbytes, "
                                    "CUDA only; needs lora_r > 0).")
    gradient_checkpointing: bool = arg(False, "Trade compute for memory on large models.")
    precision: str = arg("auto", "auto | fp32 | bf16 | fp16 (auto: the faster of bf16 and fp32 here, measured once and cached).")
    trust_remote_code: bool = arg(False, "Allow custom model code from the hub.")
    seed: int = arg(0, "Seed for batch order.")
    eval_every: int = arg(100, "Evaluate held-out loss every N steps, and at the end (0: at the end only). 100: "
                               "TRL's SFT recipe; enough points for a curve in plots/sft.png.")
    save_every: int = arg(100, "Checkpoint every N steps for resume (0: never).")
    log_every: int = arg(10, "Log training metrics every N steps.")


def tokenize_demonstrations(tokenizer, demos, max_length: int, train_on_prompt: bool = False):
    examples, truncated = [], 0
    for d in demos:
        tc = tokenize_conversation(tokenizer, d.messages, max_length=None, train_on_all=train_on_prompt)
        if len(tc.input_ids) > max_length:
            truncated += 1
            tc.input_ids, tc.labels = tc.input_ids[:max_length], tc.labels[:max_length]
        if tc.num_target_tokens > 0:
            examples.append(tc)
    return examples, truncated


def run(cfg: SFTConfig, should_stop=None) -> Path:
    if not cfg.data:
        raise ConfigError("config key 'data': give the demonstrations to fine-tune on (--data FILE ...)")
    adapter = AdapterSettings(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.prompt_tuning_tokens, cfg.load_in_4bit)
    adapter.check()
    run_dir = prepare_run_dir(cfg.out, cfg, "sft")
    precision = resolve_precision(cfg.precision)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    model = load_causal_lm(cfg.model, trust_remote_code=cfg.trust_remote_code,
                           quantization_config=four_bit_config(cfg.load_in_4bit))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model = apply_adapter(model, adapter, task="CAUSAL_LM", seed=cfg.seed)

    demos = [d for src in cfg.data for d in load_records(src, "demonstration", skip_bad=cfg.skip_bad_rows,
                                                          max_bad_share=cfg.max_bad_share)]
    train, truncated = tokenize_demonstrations(tokenizer, demos, cfg.max_length, cfg.train_on_prompt)
    if not train:
        raise ValueError(f"no demonstration with an assistant turn in {cfg.data}")
    evals = []
    if cfg.eval_data:
        evals, _ = tokenize_demonstrations(tokenizer, load_records(cfg.eval_data, "demonstration"), cfg.max_length)
    steps_per_epoch = max(1, -(-len(train) // cfg.batch_size) // cfg.grad_accum)
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    print(f"sft: {len(train)} conversations ({truncated} truncated to {cfg.max_length} tokens), "
          f"{sum(e.num_target_tokens for e in train)} target tokens, {max_steps} steps")

    plan = BatchPlan([len(e.input_ids) for e in train], cfg.batch_size, cfg.seed, bucket_by_length=True)

    def collate(idx: list[int]) -> dict[str, torch.Tensor]:
        return pad_batch([train[i].input_ids for i in idx], [train[i].labels for i in idx], tokenizer.pad_token_id)

    settings = LoopSettings(
        lr=cfg.lr, max_steps=max_steps, grad_accum=cfg.grad_accum, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, precision=precision, seed=cfg.seed, log_every=cfg.log_every,
        eval_every=cfg.eval_every, save_every=cfg.save_every, desc="sft",
    )
    eval_fn = (lambda m: mean_nll(m, padded_batches([e.input_ids for e in evals], [e.labels for e in evals],
                                                      tokenizer.pad_token_id))) if evals else None
    result = fit(model, plan, collate, lm_loss, settings, run_dir, eval_fn=eval_fn, should_stop=should_stop)
    if result.steps < max_steps:  # interrupted: the checkpoint is the output
        return run_dir
    result.save_model(tokenizer, run_dir / "model")
    summary = {"steps": result.steps, "train_loss": result.final_loss,
               **{f"heldout_{k}": v for k, v in result.eval_metrics.items()}}
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"sft: final train loss {result.final_loss:.4f}; model saved to {run_dir / 'model'}")
    return run_dir / "model"


def main(argv: list[str]) -> int:
    run(parse_config(SFTConfig, argv, prog="kaizen sft"))
    return 0
