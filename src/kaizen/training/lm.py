"""Language-model loss pieces shared by pretraining, SFT and the PPO-ptx / alignment-tax checks."""

from __future__ import annotations

import math
from collections.abc import Iterable

from kaizen.lazy import lazy_import, no_grad
from kaizen.losses.sft import count_target_tokens, masked_lm_loss
from kaizen.training.batching import pad_batch
from kaizen.training.loop import LossOutput

torch = lazy_import("torch")


def lm_loss(model, batch: dict[str, torch.Tensor]) -> LossOutput:
    """Summed next-token NLL over the batch's target tokens (the loop normalises)."""
    logits = _input_logits(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, batch)
    loss_sum = masked_lm_loss(logits, batch["labels"], reduction="sum")
    return LossOutput(loss_sum, count_target_tokens(batch["labels"]), num_tokens=int(batch["attention_mask"].sum()))


def _input_logits(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The logits of the input's own positions: prompt tuning prepends virtual tokens' logits."""
    return logits[:, -batch["input_ids"].shape[1]:]


@no_grad
def mean_nll(model, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Token-averaged NLL and perplexity of ``model`` over ``batches`` (input_ids, attention_mask, labels)."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = _input_logits(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, batch)
        total += float(masked_lm_loss(logits, batch["labels"], reduction="sum"))
        count += count_target_tokens(batch["labels"])
    nll = total / max(count, 1)
    return {"loss": nll, "perplexity": math.exp(min(nll, 50.0))}


def padded_batches(sequences: list[list[int]], labels: list[list[int]] | None, pad_id: int,
                   batch_size: int = 16) -> Iterable[dict[str, torch.Tensor]]:
    for s in range(0, len(sequences), batch_size):
        yield pad_batch(sequences[s:s + batch_size], labels[s:s + batch_size] if labels is not None else None, pad_id)
