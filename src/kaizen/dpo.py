"""Direct preference optimisation (Rafailov et al. 2023): the policy learns from ranked answers
with no reward model and no sampling.

    kaizen dpo --model runs/sft/model --data runs/rank/rankings.jsonl --out runs/dpo
    kaizen dpo --model Qwen/Qwen2.5-0.5B-Instruct --data trl-lib/ultrafeedback_binarized --lora_r 16

Data: Kaizen ranking records, each expanded into every strictly ordered pair (ties give none),
or any preference format ``kaizen data`` reads (TRL ``prompt`` / ``chosen`` / ``rejected``,
implicit-prompt pairs). Each answer is tokenized after its chat-templated prompt, closed by the
end-of-turn marker; log pi(y|x) sums the answer tokens only. Chosen and rejected rows of a
micro-batch go through one forward (2B rows).

The reference is the initial policy (or ``--ref_model``). By default its log-probs are computed
once before training (TRL's ``precompute_ref_log_probs``), so no second model is kept; with LoRA
or prompt tuning the reference is the base model with the adapter disabled. Metrics carry TRL's
names (``rewards/accuracies``, ``rewards/margins``, ...). Training runs in the shared loop: gradient
accumulation normalised by pairs, bf16 where the GPU has it, checkpoints and exact resume.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kaizen.config import ConfigError, arg, parse_config
from kaizen.data.chat import IGNORE_INDEX, tokenize_conversation
from kaizen.data.formats import load_records
from kaizen.data.records import Message, PreferencePair
from kaizen.lazy import lazy_import, no_grad
from kaizen.losses.dpo import dpo_loss
from kaizen.losses.sft import token_logprobs
from kaizen.models.adapters import AdapterSettings, apply_adapter, four_bit_config, virtual_tokens
from kaizen.models.loading import load_causal_lm, load_tokenizer, resolve_precision
from kaizen.training.batching import BatchPlan, pad_batch
from kaizen.training.loop import LossOutput, LoopSettings, fit, make_accelerator
from kaizen.training.packing import pack_rows, packed_logprobs, row_chunks
from kaizen.training.rundir import prepare_run_dir

torch = lazy_import("torch")


@dataclass(frozen=True)
class DPOConfig:
    """Direct preference optimisation from rankings or preference pairs."""

    model: str = arg("runs/sft/model", "Policy to start from (usually the SFT model): a local directory or a hub id.")
    ref_model: str | None = arg(None, "Reference model (same tokenizer); none: the initial policy.")
    data: list[str] = arg(["runs/rank/rankings.jsonl"],
                          "Ranking files (every strict pair is used) or preference files / dataset dirs / hub ids.")
    eval_data: str | None = arg(None, "Held-out rankings or pairs for eval metrics; none to skip.")
    skip_bad_rows: bool = arg(False, "Skip rows that fail validation (logged: how many, and why) instead of stopping.")
    max_bad_share: float = arg(0.05, "With skip_bad_rows: stop anyway when more than this share of a source's rows "
                                     "is bad (a wrong file, not a few broken rows).")
    out: str = arg("runs/dpo", "Run directory; the policy is saved to OUT/model.")
    # beta = 0.1: the DPO paper's setting for its dialogue and summarisation runs (§6), TRL's default.
    beta: float = arg(0.1, "β: how far the policy may move from the reference (larger: closer). τ for IPO.")
    label_smoothing: float = arg(0.0, "Assumed probability that a label is flipped (conservative DPO, sigmoid only).")
    loss_type: Literal["sigmoid", "ipo", "hinge"] = arg("sigmoid", "sigmoid (DPO), ipo (Azar et al.) or hinge (SLiC).")
    max_length: int = arg(512, "Longest prompt + answer; longer answers are cut at the end.")
    max_prompt_length: int | None = arg(256, "Longest prompt; longer prompts keep their end. None: no limit.")
    batch_size: int = arg(8, "Preference pairs per micro-batch (2x rows in the forward).")
    grad_accum: int = arg(1, "Micro-batches per optimizer step.")
    epochs: int = arg(1, "Passes over the pairs (ignored when max_steps is set).")
    max_steps: int | None = arg(None, "Optimizer steps; overrides epochs.")
    # 1e-6 with linear warm-up: the DPO paper's setting (App. B; it warms up over 150 steps at
    # batch 64). Kaizen's tiny from-scratch models need far more; the demo passes its own.
    lr: float = arg(1e-6, "Peak learning rate.")
    warmup_steps: int = arg(10, "Linear warm-up steps.")
    weight_decay: float = arg(0.0, "AdamW weight decay on matrices.")
    lora_r: int = arg(0, "LoRA rank (0: full fine-tuning). The reference is then the base with adapters disabled; "
                         "the merged model is saved to OUT/model, the adapter to OUT/adapter.")
    lora_alpha: int = arg(32, "LoRA scaling alpha.")
    # The reference is then the base with the virtual tokens off (see reference_fn), as with LoRA.
    prompt_tuning_tokens: int = arg(0, "Prompt tuning instead (0: off): train only this many virtual token "
                                       "embeddings; OUT/model is then a peft adapter on the frozen base.")
    load_in_4bit: bool = arg(False, "QLoRA: the frozen base in 4-bit NF4 under the LoRA adapters (bitsandbytes, "
                                    "CUDA only; needs lora_r > 0).")
    precompute_ref: bool = arg(True, "Compute reference log-probs once before training instead of every step "
                                     "(saves a model's worth of memory and a forward per step).")
    gradient_checkpointing: bool = arg(False, "Trade compute for memory on large models.")
    precision: str = arg("auto", "auto | fp32 | bf16 | fp16 (auto: the faster of bf16 and fp32 here, measured once and cached).")
    trust_remote_code: bool = arg(False, "Allow custom model code from the hub.")
    seed: int = arg(0, "Seed for batch order.")
    eval_every: int = arg(50, "Evaluate on eval_data every N steps, and at the end (0: at the end only). 50: TRL's "
                              "DPO recipe.")
    save_every: int = arg(100, "Checkpoint every N steps for resume (0: never).")
    log_every: int = arg(10, "Log training metrics every N steps.")


# ---- tokenization ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PairExample:
    """One tokenized pair: the shared prompt and each answer (closed by the end-of-turn marker)."""

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


@dataclass(frozen=True)
class TokenizeStats:
    pairs: int  # kept
    skipped: int  # prompt alone fills max_length: no room for an answer token
    prompt_truncated: int
    answer_truncated: int  # pairs with at least one answer cut


def _prompt_and_answer(tokenizer, prompt: Sequence[Message], answer: str) -> tuple[list[int], list[int]]:
    """Tokens of the templated prompt (with generation prompt) and of the final answer turn.

    ``tokenize_conversation`` labels every assistant turn; in a multi-turn prompt the earlier
    ones are context here, so only the last run of target labels is the answer.
    """
    tc = tokenize_conversation(tokenizer, [*prompt, Message("assistant", answer)])
    end = max(i for i, label in enumerate(tc.labels) if label != IGNORE_INDEX) + 1
    start = end
    while start > 0 and tc.labels[start - 1] != IGNORE_INDEX:
        start -= 1
    return tc.input_ids[:start], tc.input_ids[start:end]


def tokenize_pair(tokenizer, pair: PreferencePair, max_length: int,
                  max_prompt_length: int | None = None) -> tuple[PairExample | None, bool, bool]:
    """``(example or None if skipped, prompt truncated, an answer truncated)``."""
    prompt, chosen = _prompt_and_answer(tokenizer, pair.prompt, pair.chosen)
    _, rejected = _prompt_and_answer(tokenizer, pair.prompt, pair.rejected)
    prompt_cut = max_prompt_length is not None and len(prompt) > max_prompt_length
    if prompt_cut:
        # Keep the end: the latest turns are what the answer replies to. A leading BOS stays.
        bos = tokenizer.bos_token_id
        keep_bos = bos is not None and prompt[0] == bos and max_prompt_length > 1
        prompt = prompt[:1] + prompt[len(prompt) - max_prompt_length + 1:] if keep_bos else prompt[-max_prompt_length:]
    if len(prompt) >= max_length:
        return None, prompt_cut, False
    room = max_length - len(prompt)
    answer_cut = len(chosen) > room or len(rejected) > room
    return PairExample(prompt, chosen[:room], rejected[:room]), prompt_cut, answer_cut


def tokenize_pairs(tokenizer, pairs: Sequence[PreferencePair], max_length: int,
                   max_prompt_length: int | None = None) -> tuple[list[PairExample], TokenizeStats]:
    examples, skipped, prompt_cut, answer_cut = [], 0, 0, 0
    for pair in pairs:
        ex, p_cut, a_cut = tokenize_pair(tokenizer, pair, max_length, max_prompt_length)
        skipped += ex is None
        prompt_cut += p_cut
        answer_cut += a_cut
        if ex is not None:
            examples.append(ex)
    return examples, TokenizeStats(len(examples), skipped, prompt_cut, answer_cut)


def load_pairs(sources: Sequence[str], skip_bad: bool = False, max_bad_share: float = 0.05) -> list[PreferencePair]:
    """Preference pairs from every source; a ranking gives all its strictly ordered pairs."""
    return [p for src in sources
            for p in load_records(src, "preference", skip_bad=skip_bad, max_bad_share=max_bad_share)]


def collate_pairs(examples: Sequence[PairExample], pad_id: int,
                  ref_logps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``2B`` right-padded rows, chosen answers first, then rejected; labels only on answers.

    ``ref_logps``: ``[B, 2]`` precomputed reference (chosen, rejected), returned as ``[2B]``.
    """
    seqs = [e.prompt_ids + e.chosen_ids for e in examples] + [e.prompt_ids + e.rejected_ids for e in examples]
    labels = ([[IGNORE_INDEX] * len(e.prompt_ids) + e.chosen_ids for e in examples]
              + [[IGNORE_INDEX] * len(e.prompt_ids) + e.rejected_ids for e in examples])
    batch = pad_batch(seqs, labels, pad_id)
    if ref_logps is not None:
        batch["ref_logps"] = torch.cat([ref_logps[:, 0], ref_logps[:, 1]]).float()
    return batch


# ---- log-probs and the loss -----------------------------------------------------------------

def sequence_logps(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``[2B]`` log pi(answer | prompt): the sum over each row's answer tokens.

    Padding-free: the rows go through the model packed into one sequence, and the LM head runs
    on answer tokens only (training/packing.py; the same sums as a padded pass up to rounding).
    A prompt-tuned model takes the padded pass: peft drops the position ids that keep packed
    rows apart, and its virtual tokens belong in front of every row, not once per pack.
    """
    from accelerate.utils import extract_model_from_parallel

    answer = batch["labels"][:, 1:] != IGNORE_INDEX  # position j predicts token j+1
    ids, att = batch["input_ids"], batch["attention_mask"]
    if virtual_tokens(extract_model_from_parallel(model)):
        logits = model(input_ids=ids, attention_mask=att, use_cache=False).logits[:, -ids.shape[1]:-1]
        return token_logprobs(logits, ids[:, 1:]).masked_fill(~answer, 0.0).sum(dim=-1)
    sums = [packed_logprobs(model, pack_rows(ids[c], att[c], answer[c]))[0].sum(dim=-1) for c in row_chunks(att)]
    return torch.cat(sums)


def reference_fn(ref_model: torch.nn.Module | None) -> Callable[[torch.nn.Module, dict], torch.Tensor]:
    """``fn(policy, batch) -> [2B]`` reference log-probs: precomputed in the batch if there,
    else from ``ref_model``, else from the policy with its adapter (LoRA, prompt tuning) disabled."""

    @no_grad
    def fn(policy: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "ref_logps" in batch:
            return batch["ref_logps"]
        if ref_model is not None:
            return sequence_logps(ref_model, batch)
        from accelerate.utils import extract_model_from_parallel

        base = extract_model_from_parallel(policy)  # a plain forward, outside DDP's gradient hooks
        with base.disable_adapter():
            return sequence_logps(base, batch)

    return fn


def pair_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, batch: dict[str, torch.Tensor],
              beta: float, label_smoothing: float = 0.0, loss_type: str = "sigmoid") -> LossOutput:
    """Summed DPO loss over the ``B`` pairs of a batch whose ``2B`` rows are [chosen..., rejected...]."""
    policy_chosen, policy_rejected = policy_logps.chunk(2)
    ref_chosen, ref_rejected = ref_logps.to(policy_logps.dtype).chunk(2)
    lengths = {}
    if loss_type == "ipo":  # TRL's IPO averages each log-ratio over its answer tokens
        n = (batch["labels"][:, 1:] != IGNORE_INDEX).sum(-1)
        lengths = dict(zip(("chosen_lengths", "rejected_lengths"), n.chunk(2)))
    losses, chosen_rewards, rejected_rewards = dpo_loss(
        policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta, label_smoothing, loss_type, **lengths)
    metrics = {
        "rewards/chosen": chosen_rewards.mean().item(),
        "rewards/rejected": rejected_rewards.mean().item(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean().item(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean().item(),
        "logps/chosen": policy_chosen.detach().mean().item(),
        "logps/rejected": policy_rejected.detach().mean().item(),
    }
    return LossOutput(losses.sum(), len(losses), num_tokens=int(batch["attention_mask"].sum()), metrics=metrics)


def count_pairs(batch: dict[str, torch.Tensor]) -> int:
    return batch["input_ids"].shape[0] // 2


@no_grad
def precompute_reference(model: torch.nn.Module, examples: Sequence[PairExample], pad_id: int, batch_size: int,
                         accelerator, adapters_off: bool = False) -> torch.Tensor:
    """``[N, 2]`` reference (chosen, rejected) log-probs; each process scores its share."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].length)
    chunks = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    was_training = model.training
    model.eval()
    mine = []
    for idx in chunks[accelerator.process_index::accelerator.num_processes]:
        batch = {k: v.to(accelerator.device) for k, v in collate_pairs([examples[i] for i in idx], pad_id).items()}
        with accelerator.autocast(), (model.disable_adapter() if adapters_off else contextlib.nullcontext()):
            chosen, rejected = sequence_logps(model, batch).float().cpu().chunk(2)
        mine.extend(zip(idx, chosen.tolist(), rejected.tolist()))
    model.train(was_training)
    from accelerate.utils import gather_object

    out = torch.empty(len(examples), 2)
    for i, c, r in gather_object(mine) if accelerator.num_processes > 1 else mine:
        out[i, 0], out[i, 1] = c, r
    return out


def disable_dropout(model: torch.nn.Module) -> None:
    """As TRL's ``disable_dropout=True``: with dropout the policy's log-probs at step 0 are noisy
    copies of the reference's, so the implicit rewards start from noise instead of zero."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0


@no_grad
def evaluate_pairs(model, examples: Sequence[PairExample], ref: torch.Tensor | None, reference, pad_id: int,
                   batch_size: int, cfg: DPOConfig, accelerator) -> dict[str, float]:
    """Pair-averaged loss and TRL's reward metrics over ``examples``."""
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    for s in range(0, len(examples), batch_size):
        chunk_ref = ref[s:s + batch_size] if ref is not None else None
        batch = {k: v.to(device) for k, v in collate_pairs(examples[s:s + batch_size], pad_id, chunk_ref).items()}
        with accelerator.autocast():
            out = pair_loss(sequence_logps(model, batch), reference(model, batch), batch,
                            cfg.beta, cfg.label_smoothing, cfg.loss_type)
        for k, v in {"loss": out.loss_sum.item() / out.num_items, **out.metrics}.items():
            sums[k] = sums.get(k, 0.0) + v * out.num_items
    return {k: v / max(len(examples), 1) for k, v in sums.items()}


# ---- the stage ------------------------------------------------------------------------------

def _load_frozen(path: str, cfg: DPOConfig) -> torch.nn.Module:
    ref = load_causal_lm(path, trust_remote_code=cfg.trust_remote_code)
    ref.requires_grad_(False)
    return ref.eval()


def run(cfg: DPOConfig, should_stop=None) -> Path:
    if cfg.label_smoothing and cfg.loss_type != "sigmoid":  # fail before any model is loaded
        raise ConfigError(f"config key 'label_smoothing': only defined for loss_type 'sigmoid', not '{cfg.loss_type}'")
    # lora_dropout = 0: dropout is disabled in DPO anyway (see disable_dropout).
    adapter = AdapterSettings(cfg.lora_r, cfg.lora_alpha, 0.0, cfg.prompt_tuning_tokens, cfg.load_in_4bit)
    adapter.check()
    run_dir = prepare_run_dir(cfg.out, cfg, "dpo")
    precision = resolve_precision(cfg.precision)
    acc = make_accelerator(precision)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    pad_id = tokenizer.pad_token_id

    pairs = load_pairs(cfg.data, cfg.skip_bad_rows, cfg.max_bad_share)
    train, stats = tokenize_pairs(tokenizer, pairs, cfg.max_length, cfg.max_prompt_length)
    if not train:
        raise ValueError(f"no usable preference pair in {cfg.data} ({stats.skipped} skipped: prompt fills max_length)")
    evals: list[PairExample] = []
    if cfg.eval_data:
        evals, _ = tokenize_pairs(tokenizer, load_pairs([cfg.eval_data]), cfg.max_length, cfg.max_prompt_length)
    steps_per_epoch = max(1, -(-len(train) // cfg.batch_size) // cfg.grad_accum)
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    acc.print(f"dpo: {stats.pairs} pairs ({stats.skipped} skipped: prompt alone fills max_length {cfg.max_length}; "
              f"{stats.prompt_truncated} prompts and {stats.answer_truncated} answers truncated), {max_steps} steps")

    model = load_causal_lm(cfg.model, trust_remote_code=cfg.trust_remote_code,
                           quantization_config=four_bit_config(cfg.load_in_4bit))
    disable_dropout(model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model = apply_adapter(model, adapter, task="CAUSAL_LM", seed=cfg.seed)

    # The reference: a separate model only when asked for, or when it must run every step.
    ref_model = None
    if cfg.ref_model is not None or (not adapter.any and not cfg.precompute_ref):
        ref_model = _load_frozen(cfg.ref_model or cfg.model, cfg).to(acc.device)
    train_ref = eval_ref = None
    if cfg.precompute_ref:
        scorer = ref_model if ref_model is not None else model.to(acc.device)  # before any update: the initial policy
        adapters_off = ref_model is None and adapter.any
        train_ref = precompute_reference(scorer, train, pad_id, cfg.batch_size, acc, adapters_off)
        if evals:
            eval_ref = precompute_reference(scorer, evals, pad_id, cfg.batch_size, acc, adapters_off)
        del scorer
        ref_model = None  # freed: its log-probs are all that is needed
        if acc.device.type == "cuda":
            torch.cuda.empty_cache()
    reference = reference_fn(ref_model)

    plan = BatchPlan([e.length for e in train], cfg.batch_size, cfg.seed, bucket_by_length=True)

    def collate(idx: list[int]) -> dict[str, torch.Tensor]:
        return collate_pairs([train[i] for i in idx], pad_id, train_ref[idx] if train_ref is not None else None)

    def loss_fn(policy, batch: dict[str, torch.Tensor]) -> LossOutput:
        return pair_loss(sequence_logps(policy, batch), reference(policy, batch), batch,
                         cfg.beta, cfg.label_smoothing, cfg.loss_type)

    eval_fn = None
    if evals:
        def eval_fn(policy):
            return evaluate_pairs(policy, evals, eval_ref, reference, pad_id, cfg.batch_size, cfg, acc)

    settings = LoopSettings(
        lr=cfg.lr, max_steps=max_steps, grad_accum=cfg.grad_accum, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, precision=precision, seed=cfg.seed, log_every=cfg.log_every,
        eval_every=cfg.eval_every, save_every=cfg.save_every, desc="dpo",
    )
    result = fit(model, plan, collate, loss_fn, settings, run_dir, eval_fn=eval_fn, should_stop=should_stop,
                 accelerator=acc, count_items=count_pairs)
    if result.steps < max_steps:  # interrupted: the checkpoint is the output
        return run_dir
    result.save_model(tokenizer, run_dir / "model")
    last = result.history[-1] if result.history else {}
    summary = {"steps": result.steps, "train_loss": result.final_loss, "pairs": stats.pairs,
               "skipped": stats.skipped, "prompt_truncated": stats.prompt_truncated,
               "answer_truncated": stats.answer_truncated,
               **{f"train_{k}": v for k, v in last.items() if k.startswith(("rewards/", "logps/"))},
               **{f"heldout_{k}": v for k, v in result.eval_metrics.items()}}
    if acc.is_main_process:
        (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
    acc.print(f"dpo: final loss {result.final_loss:.4f}, reward accuracy "
              f"{last.get('rewards/accuracies', float('nan')):.3f}; model saved to {run_dir / 'model'}")
    return run_dir / "model"


def main(argv: list[str]) -> int:
    run(parse_config(DPOConfig, argv, prog="kaizen dpo"))
    return 0
