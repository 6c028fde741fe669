"""Deterministic batch order, length bucketing, packing and padding.

Batch order is a pure function of (seed, epoch), so a resumed run sees exactly the batches the
killed run would have seen: the checkpoint only needs the optimizer-step count.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from kaizen.data.chat import IGNORE_INDEX
from kaizen.lazy import lazy_import

torch = lazy_import("torch")


@dataclass(frozen=True)
class BatchPlan:
    """Micro-batches (lists of example indices) for every epoch, derived from the seed."""

    lengths: Sequence[int]
    batch_size: int
    seed: int
    bucket_by_length: bool = True
    drop_last: bool = False

    def epoch(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if self.bucket_by_length:
            # Sort within mega-batches so padding is small, then shuffle the batches themselves.
            mega = self.batch_size * 50
            order = [i for s in range(0, len(order), mega)
                     for i in sorted(order[s:s + mega], key=lambda i: self.lengths[i])]
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.bucket_by_length:
            rng.shuffle(batches)
        return batches

    def __len__(self) -> int:
        n, b = len(self.lengths), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def micro_batch(self, index: int) -> list[int]:
        """The ``index``-th micro-batch of the endless stream epoch 0, epoch 1, ..."""
        per_epoch = len(self)
        return self.epoch(index // per_epoch)[index % per_epoch]


def pad_batch(sequences: list[list[int]], labels: list[list[int]] | None, pad_id: int,
              left: bool = False) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence; padding never carries loss (labels -100, attention 0)."""
    width = max(len(s) for s in sequences)
    ids, att, lab = [], [], []
    for i, seq in enumerate(sequences):
        pad = width - len(seq)
        fill_ids, fill_mask = [pad_id] * pad, [0] * pad
        row_labels = labels[i] if labels is not None else seq
        fill_lab = [IGNORE_INDEX] * pad
        if left:
            ids.append(fill_ids + list(seq)); att.append(fill_mask + [1] * len(seq)); lab.append(fill_lab + list(row_labels))
        else:
            ids.append(list(seq) + fill_ids); att.append([1] * len(seq) + fill_mask); lab.append(list(row_labels) + fill_lab)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(att), "labels": torch.tensor(lab)}


def pack_token_stream(docs: Sequence[Sequence[int]], block_size: int, eos_id: int) -> list[list[int]]:
    """Concatenate documents (each closed by EOS) and cut fixed blocks: standard LM pretraining packing."""
    stream: list[int] = []
    for d in docs:
        stream.extend(d)
        stream.append(eos_id)
    return [stream[i:i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
