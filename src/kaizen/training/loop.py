"""The one optimisation loop that pretraining, SFT, the reward model and DPO share.

Stages compose it with a loss function instead of subclassing a trainer:

    result = fit(model, plan, collate, loss_fn, settings, run_dir)

``loss_fn(model, batch) -> LossOutput`` returns a *summed* loss and the number of items it
summed over; the loop divides by the item count of the whole optimizer step, across gradient
accumulation and processes, so 8 micro-batches x 1 equals 1 x 8 (torchtune #2307).

Scale-out goes through `accelerate` (DDP / FSDP / DeepSpeed via ``accelerate launch``); every
process takes every world_size-th micro-batch of the shared deterministic stream.

Checkpoints (``run_dir/checkpoints/step-N``) hold model, optimizer, scheduler and RNG state
(``Accelerator.save_state``) plus the step; batch order is a function of the seed, so a killed
run resumes on exactly the batches it would have seen.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kaizen.lazy import lazy_import
from kaizen.losses.sft import count_target_tokens
from kaizen.training.batching import BatchPlan
from kaizen.training.checkpoint import StageCheckpointer
from kaizen.training.metrics import MetricsLogger
from kaizen.training.progress import progress

torch = lazy_import("torch")
if TYPE_CHECKING:
    from accelerate import Accelerator


@dataclass
class LossOutput:
    loss_sum: torch.Tensor  # summed over items; the loop normalises
    num_items: int  # tokens for LM losses, prompts for the RM, pairs for DPO
    num_tokens: int = 0  # tokens processed, for throughput
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopSettings:
    lr: float
    max_steps: int  # optimizer steps
    grad_accum: int = 1
    warmup_steps: int = 0
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    precision: str = "fp32"  # fp32 | bf16 | fp16 (accelerate mixed precision)
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0  # 0 = only at the end
    save_every: int = 0  # 0 = only at the end
    keep_checkpoints: int = 2
    resume: bool = True
    desc: str = "train"


@dataclass
class FitResult:
    steps: int
    final_loss: float
    eval_metrics: dict[str, float]
    resumed_from: int
    history: list[dict[str, float]]
    accelerator: Accelerator | None = None
    model: torch.nn.Module | None = None  # as prepared by accelerate (maybe wrapped)

    def save_model(self, tokenizer, out_dir: str | Path) -> Path:
        """Save the trained model as a standard directory (see ``save_trained``)."""
        return save_trained(self.accelerator, self.model, tokenizer, out_dir)


def save_trained(acc: Accelerator, model: torch.nn.Module, tokenizer, out_dir: str | Path) -> Path:
    """Save through accelerate so DDP / FSDP / DeepSpeed-wrapped models save whole, on the main process.

    A peft (LoRA) model saves its adapter beside ``out_dir`` (``../adapter``) and the merged model
    in ``out_dir``, so every later stage, `transformers` and vLLM load it like any other model.
    """
    from kaizen.models.loading import save_pretrained

    out = Path(out_dir)
    acc.wait_for_everyone()
    unwrapped = acc.unwrap_model(model)
    if hasattr(unwrapped, "merge_and_unload"):
        if acc.is_main_process:
            unwrapped.save_pretrained(out.parent / "adapter")
            save_pretrained(unwrapped.merge_and_unload(), tokenizer, out)
    else:
        state_dict = acc.get_state_dict(model)
        if acc.is_main_process:
            save_pretrained(unwrapped, tokenizer, out, state_dict=state_dict)
    acc.wait_for_everyone()
    return out


def make_accelerator(precision: str) -> Accelerator:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    mp = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", mp) != mp:
        # One process runs several stages (`kaizen demo`, `kaizen loop`), each with its own
        # precision; accelerate keeps the first one process-wide and refuses a change. The
        # distributed part (PartialState: process group, device) is kept.
        AcceleratorState._reset_state(reset_partial_state=False)
    # Our loops count global optimizer steps; accelerate would step a prepared scheduler once per
    # process (it assumes each process saw 1/N of the steps), running N processes' schedule N times faster.
    return Accelerator(mixed_precision=mp, step_scheduler_with_optimizer=False)


def fit(
    model: torch.nn.Module,
    plan: BatchPlan,
    collate: Callable[[list[int]], dict[str, torch.Tensor]],
    loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], LossOutput],
    settings: LoopSettings,
    run_dir: str | Path,
    eval_fn: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    should_stop: Callable[[int], bool] | None = None,
    accelerator: Accelerator | None = None,
    count_items: Callable[[dict[str, torch.Tensor]], int] | None = None,
) -> FitResult:
    """Train ``model`` for ``settings.max_steps`` optimizer steps; returns the final metrics.

    ``should_stop(step)`` lets a caller interrupt after a step (tests simulate a kill with it).
    ``count_items(batch)`` gives the items ``loss_fn`` will sum over (default: target tokens).
    """
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    count_items = count_items or (lambda batch: count_target_tokens(batch["labels"]))
    run_dir = Path(run_dir)
    acc = accelerator or make_accelerator(settings.precision)
    set_seed(settings.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    scheduler = get_scheduler(settings.lr_scheduler, optimizer, num_warmup_steps=settings.warmup_steps,
                              num_training_steps=settings.max_steps)
    model, optimizer, scheduler = acc.prepare(model, optimizer, scheduler)

    checkpointer = StageCheckpointer(acc, run_dir, keep=settings.keep_checkpoints)
    step = checkpointer.restore() if settings.resume else 0
    resumed_from = step

    logger = MetricsLogger(run_dir, enabled=acc.is_main_process)
    world, rank = acc.num_processes, acc.process_index
    micro_per_step = settings.grad_accum * world
    history: list[dict[str, float]] = []
    eval_metrics: dict[str, float] = {}
    last_loss = math.nan
    bar = progress(settings.max_steps, settings.desc, initial=step, disable=not acc.is_main_process)
    tokens_seen, t0 = 0, time.perf_counter()
    model.train()
    while step < settings.max_steps:
        first = step * micro_per_step
        mine = [plan.micro_batch(first + j) for j in range(rank, micro_per_step, world)]
        batches = [{k: v.to(acc.device) for k, v in collate(idx).items()} for idx in mine]
        # The normaliser is the item count of the whole optimizer step, known before any backward.
        n_local = torch.tensor(float(sum(count_items(b) for b in batches)), device=acc.device)
        n_global = acc.reduce(n_local, reduction="sum").item() if world > 1 else n_local.item()
        # DDP averages gradients over processes; multiply by world so the result is sum / n_global.
        scale = world / max(n_global, 1.0)
        loss_total, n_total, sums = 0.0, 0, {}
        for i, batch in enumerate(batches):
            with acc.no_sync(model) if i < len(batches) - 1 else contextlib.nullcontext():
                with acc.autocast():
                    out = loss_fn(model, batch)
                acc.backward(out.loss_sum * scale)
            loss_total += out.loss_sum.detach().float().item()
            n_total += out.num_items
            tokens_seen += out.num_tokens
            for k, v in out.metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v) * out.num_items
        grad_norm = acc.clip_grad_norm_(model.parameters(), settings.max_grad_norm) if settings.max_grad_norm > 0 else None
        lr_used = scheduler.get_last_lr()[0]  # after scheduler.step() it would be the next step's rate
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if world > 1:  # log the whole step's loss, not the main process's share of it
            keys = sorted(sums)
            totals = acc.reduce(torch.tensor([loss_total, float(n_total), *(sums[k] for k in keys)],
                                             dtype=torch.float64, device=acc.device), reduction="sum").tolist()
            loss_total, n_total, sums = totals[0], totals[1], dict(zip(keys, totals[2:]))
        last_loss = loss_total / max(n_total, 1)
        row = {"loss": last_loss, "lr": lr_used,
               **{k: v / max(n_total, 1) for k, v in sums.items()}}
        if grad_norm is not None:
            row["grad_norm"] = float(grad_norm)
        elapsed = time.perf_counter() - t0
        row["tokens_per_s"] = tokens_seen * world / max(elapsed, 1e-9)
        history.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{row['tokens_per_s']:.0f}")
        if step % settings.log_every == 0 or step == settings.max_steps:
            logger.log(step, row, prefix="train/")
        if eval_fn is not None and settings.eval_every and step % settings.eval_every == 0 and step < settings.max_steps:
            eval_metrics = _evaluate(acc, model, eval_fn, logger, step)
        if settings.save_every and step % settings.save_every == 0 and step < settings.max_steps:
            checkpointer.save(step)
        if should_stop is not None and should_stop(step):
            bar.close()
            logger.close()
            return FitResult(step, last_loss, eval_metrics, resumed_from, history, acc, model)
    bar.close()
    if eval_fn is not None:
        eval_metrics = _evaluate(acc, model, eval_fn, logger, step)
    logger.close()
    acc.wait_for_everyone()
    return FitResult(step, last_loss, eval_metrics, resumed_from, history, acc, model)


def _evaluate(acc: Accelerator, model, eval_fn, logger: MetricsLogger, step: int) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        metrics = eval_fn(acc.unwrap_model(model))
    model.train()
    logger.log(step, metrics, prefix="eval/")
    acc.print(f"step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    return metrics
