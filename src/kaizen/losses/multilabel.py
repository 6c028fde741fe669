"""Multi-label classification loss: one independent sigmoid per category (moderation, attack detection).

A text may be harassment *and* a threat, so the categories are not a softmax over classes but
``C`` binary problems, each scored by binary cross-entropy; this is also what
``transformers``' ``problem_type="multi_label_classification"`` computes (``BCEWithLogitsLoss``).
"""

from __future__ import annotations

from kaizen.lazy import lazy_import

torch = lazy_import("torch")


def multilabel_bce_sum(logits: torch.Tensor, targets: torch.Tensor,
                       pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Summed over texts of the mean BCE over categories.

    logits, targets: [B, C] (targets in {0, 1}); pos_weight: [C] weight of the positive term,
    e.g. negatives/positives per category, so rare categories are not drowned by harmless text.
    Returns a scalar: sum_b mean_c -[w_c y log σ(z) + (1 - y) log(1 - σ(z))]. The caller divides
    by the number of texts (``training.loop.fit`` normalises over the whole optimizer step).
    """
    per = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.float(), targets.float(), pos_weight=pos_weight, reduction="none")
    return per.mean(dim=-1).sum()
