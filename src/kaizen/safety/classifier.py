"""A multi-label text classifier on any ``transformers`` base: moderation and the attack detector.

    clf = train_classifier("runs/pretrain/model", MODERATION_CATEGORIES, texts, settings, "runs/moderation")
    clf = TextClassifier.load("runs/moderation/model")
    clf.scores(["How can I poison the well?"])   # [{"illicit": 0.97, "violence": 0.91, ...}]

The base is loaded with ``AutoModelForSequenceClassification`` (``problem_type=
"multi_label_classification"``), so a causal LM (Llama, Qwen2, GPT-2: pooled at the last real
token) or an encoder (BERT, DeBERTa: pooled at [CLS]) works alike, and the saved directory is a
standard ``transformers`` classifier a lab can load, fine-tune further or replace by its own.
Category names live in the saved config's ``id2label``.

``members=3`` trains a deep ensemble: the same base and data, other seeds, scores averaged. On a
small base each classifier has its own spurious cues (the demo's flagged "Give me the gist of the
page below." as violence, another seed "Act as a tour guide for a moment." as an injection); the
members rarely share one, so the mean drops them (measured in docs/safety.md). Member 0 is saved
as ``OUT/model`` (a standard classifier alone), the others under ``OUT/model/members/K``, listed
in its config's ``kaizen_members``; ``TextClassifier.load`` reads them all.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kaizen.lazy import lazy_import, no_grad
from kaizen.safety.categories import LabelledText

torch = lazy_import("torch")


def _pad_id(tokenizer, model_config) -> int:
    for candidate in (tokenizer.pad_token_id, model_config.pad_token_id, tokenizer.eos_token_id):
        if isinstance(candidate, int):
            return candidate
    return 0


def load_for_classification(base: str, labels: Sequence[str], dtype=None):
    """(model, tokenizer) with a fresh ``len(labels)``-way multi-label head on ``base`` (an existing
    classifier with the same labels keeps its head)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(labels), problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={c: i for i, c in enumerate(labels)},
        dtype=dtype or torch.float32, ignore_mismatched_sizes=True)
    pad = _pad_id(tokenizer, model.config)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token_id = pad
    # Causal LMs pool at the last token that is not padding; they find it through this id.
    model.config.pad_token_id = pad
    return model, tokenizer


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return [row or [_pad_id(tokenizer, tokenizer)] for row in ids]


def collate_texts(rows: list[list[int]], targets: list[list[float]] | None, pad_id: int) -> dict:
    """Right-padded ids [B, T], attention mask [B, T] and, for training, targets [B, C]."""
    width = max(len(r) for r in rows)
    batch = {"input_ids": torch.tensor([r + [pad_id] * (width - len(r)) for r in rows]),
             "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])}
    if targets is not None:
        batch["targets"] = torch.tensor(targets)
    return batch


def targets_of(items: Sequence[LabelledText], labels: Sequence[str]) -> list[list[float]]:
    return [[float(c in it.labels) for c in labels] for it in items]


@dataclass(frozen=True)
class ClassifierSettings:
    max_steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 20
    max_length: int = 96
    precision: str = "fp32"
    seed: int = 0


MEMBERS = "members"  # OUT/model/members/K: the ensemble's further classifiers


def train_classifier(base: str, labels: Sequence[str], train: Sequence[LabelledText], settings: ClassifierSettings,
                     run_dir: str | Path, members: int = 1) -> TextClassifier:
    """Fine-tune ``base`` on ``train`` with multi-label BCE, ``members`` times with seeds ``seed + 1000 k``;
    saves ``run_dir/model`` (member 0, listing the others) and returns the ensemble loaded."""
    if not train:
        raise ValueError("train_classifier: no training texts")
    if members < 1:
        raise ValueError(f"train_classifier: members must be at least 1, got {members}")
    run_dir = Path(run_dir)
    shutil.rmtree(run_dir / "model" / MEMBERS, ignore_errors=True)  # an earlier, larger ensemble's
    others = [_train_one(base, labels, train, replace(settings, seed=settings.seed + 1000 * k),
                         run_dir / MEMBERS / str(k), run_dir / "model" / MEMBERS / str(k))
              for k in range(1, members)]
    first = _train_one(base, labels, train, settings, run_dir, run_dir / "model",
                       [f"{MEMBERS}/{k}" for k in range(1, members)])
    return replace(first, members=tuple(o.model for o in others))


def _train_one(base: str, labels: Sequence[str], train: Sequence[LabelledText], settings: ClassifierSettings,
               run_dir: Path, out_dir: Path, member_dirs: Sequence[str] = ()) -> TextClassifier:
    from kaizen.losses.multilabel import multilabel_bce_sum
    from kaizen.training.batching import BatchPlan
    from kaizen.training.loop import LossOutput, LoopSettings, fit

    torch.manual_seed(settings.seed)  # the new head's initial weights: one per member
    model, tokenizer = load_for_classification(base, labels)
    ids = encode_texts(tokenizer, [t.text for t in train], settings.max_length)
    targets = targets_of(train, labels)
    positives = torch.tensor(targets).sum(0)
    # Rare categories (a few dozen texts among thousands) would otherwise learn to say "no".
    pos_weight = ((len(train) - positives) / positives.clamp(min=1)).clamp(1.0, 20.0).sqrt()
    pad = tokenizer.pad_token_id

    def collate(idx: list[int]) -> dict:
        return collate_texts([ids[i] for i in idx], [targets[i] for i in idx], pad)

    def loss_fn(m, batch) -> LossOutput:
        logits = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        n = batch["targets"].shape[0]
        return LossOutput(multilabel_bce_sum(logits, batch["targets"], pos_weight.to(logits.device)), n,
                          int(batch["attention_mask"].sum()))

    plan = BatchPlan([len(r) for r in ids], settings.batch_size, settings.seed, bucket_by_length=True)
    loop = LoopSettings(lr=settings.lr, max_steps=settings.max_steps, warmup_steps=settings.warmup_steps,
                        precision=settings.precision, seed=settings.seed, weight_decay=0.01, resume=False,
                        desc="classifier")
    result = fit(model, plan, collate, loss_fn, loop, run_dir, count_items=lambda b: b["targets"].shape[0])
    trained = result.accelerator.unwrap_model(result.model).float().eval()
    trained.config.kaizen_max_length = settings.max_length
    trained.config.kaizen_members = list(member_dirs)
    out = result.save_model(tokenizer, out_dir)
    return TextClassifier(trained, tokenizer, tuple(labels), settings.max_length, result.history, out)


@dataclass
class TextClassifier:
    """A trained multi-label classifier: ``scores(texts)`` gives each category's probability (with
    ``members``, the mean over the ensemble)."""

    model: object
    tokenizer: object
    labels: tuple[str, ...]
    max_length: int = 96
    history: list | None = None  # member 0's training curve, when just trained
    path: Path | None = None
    members: tuple = ()  # the ensemble's other classifiers (same labels and tokenizer)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> TextClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        def load_model(p: Path):
            return AutoModelForSequenceClassification.from_pretrained(p, dtype=torch.float32).to(device).eval()

        path = Path(path)
        model = load_model(path)
        members = tuple(load_model(path / m) for m in getattr(model.config, "kaizen_members", None) or ())
        for m in members:
            if m.config.id2label != model.config.id2label:
                raise ValueError(f"{path}: ensemble member {m.name_or_path} has other labels than the classifier")
        tokenizer = AutoTokenizer.from_pretrained(path)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token_id = model.config.pad_token_id
        labels = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
        return cls(model, tokenizer, labels, getattr(model.config, "kaizen_max_length", 96), None, path, members)

    @no_grad
    def scores(self, texts: Sequence[str], batch_size: int = 64) -> list[dict[str, float]]:
        device = next(self.model.parameters()).device
        ids = encode_texts(self.tokenizer, texts, self.max_length)
        out: list[dict[str, float]] = []
        for s in range(0, len(ids), batch_size):
            batch = {k: v.to(device) for k, v in collate_texts(ids[s:s + batch_size], None,
                                                                self.tokenizer.pad_token_id).items()}
            probs = torch.stack([torch.sigmoid(m(**batch).logits.float()) for m in (self.model, *self.members)])
            out += [dict(zip(self.labels, row)) for row in probs.mean(0).tolist()]
        return out
