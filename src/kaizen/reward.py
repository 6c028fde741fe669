"""Step 2: the reward model r_θ(x, y), trained on K-way rankings (InstructGPT eq. 1).

    kaizen rm --model runs/sft/model --data runs/rank/rankings.jsonl --out runs/rm
    kaizen rm --model Qwen/Qwen2.5-0.5B-Instruct --data Anthropic/hh-rlhf --demonstrations none \
        --lora_r 16 --out runs/rm-qwen

The RM is the SFT model with its unembedding replaced by a scalar head (a one-label
``AutoModelForSequenceClassification``, read at the last real token by
``kaizen.models.scalar_head``). Each micro-batch is a set of *prompts*: all K answers of a prompt
are scored in one forward pass and every strict pair of its ranking enters the loss together
(InstructGPT §3.5: K forward passes per prompt, not one per pair, and no comparison seen in
several updates). Ties give no pair; preference pairs are K = 2 rankings; ``all_bad`` rankings
keep their pairs, since the order among bad answers is still an order. Gradient accumulation
normalises by the prompts of the whole optimizer step.

After training the RM is shifted so the labelers' demonstrations score 0 on average (InstructGPT
§3.5: "normalized so that labeler demonstrations achieve a mean score of 0"). The shift, the
*reward bias*, goes where a plain `transformers` reader also applies it when it can:

- head with a bias term: folded into that bias; ``config.kaizen_reward_bias`` is 0;
- head without one (Llama, GPT-2, Qwen2 and GPT-NeoX heads all lack it): kept as
  ``config.kaizen_reward_bias`` and subtracted by ``RewardModel.score``. The directory stays a
  plain ``AutoModelForSequenceClassification`` (TRL, vLLM and OpenRLHF load it unchanged), but
  their raw logits are the *un-normalised* reward, offset by that constant. Pairwise comparisons,
  and so any ranking use, are unaffected; subtract the constant where absolute values matter.

With ``--prompt_tuning_tokens N`` only N virtual token embeddings and the head train (peft
SEQ_CLS keeps the head trainable, ``modules_to_save``); nothing can be merged, so ``OUT/model`` is
then a peft adapter directory on the frozen base, the bias and truncation in its
``kaizen_reward.json``. ``load_reward_model`` opens both kinds.

Outputs: ``OUT/model`` (model + head + tokenizer), ``OUT/eval.json`` (held-out pairwise accuracy,
accuracy per criterion, reward bias), ``OUT/metrics.jsonl``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import arg, parse_config
from kaizen.data.chat import render
from kaizen.data.formats import load_records
from kaizen.data.records import Message, Ranking, conversation_to_dicts
from kaizen.lazy import lazy_import, no_grad
from kaizen.losses.ranking import ranking_loss, reward_bias, strict_pairs
from kaizen.models.adapters import AdapterSettings, apply_adapter, four_bit_config, virtual_tokens
from kaizen.models.loading import DTYPES, default_device, load_tokenizer, resolve_precision
from kaizen.models.scalar_head import load_scalar_model, scalar_head, sequence_scores
from kaizen.training.batching import BatchPlan, pad_batch
from kaizen.training.loop import LoopSettings, LossOutput, fit
from kaizen.training.metrics import MetricsLogger
from kaizen.training.rundir import prepare_run_dir

torch = lazy_import("torch")

CRITERIA = ("helpful", "truthful", "harmless")
BIAS_KEY = "kaizen_reward_bias"  # model.config attribute: RewardModel.score subtracts it
MAX_LENGTH_KEY = "kaizen_reward_max_length"  # model.config attribute: the truncation used in training
# A peft adapter directory saves no model config, so a prompt-tuned RM keeps the two keys above here.
ADAPTER_SETTINGS_FILE = "kaizen_reward.json"


@dataclass(frozen=True)
class RewardConfig:
    """Step 2: reward model from K-way rankings."""

    model: str = arg("runs/sft/model", "Causal LM (gets a new scalar head) or an existing sequence-classification RM.")
    data: list[str] = arg(["runs/rank/rankings.jsonl"], "Ranking / preference-pair sources (files, dataset dirs, hub ids).")
    eval_data: str | None = arg(None, "Held-out rankings; none: hold out eval_fraction of the prompts.")
    skip_bad_rows: bool = arg(False, "Skip rows that fail validation (logged: how many, and why) instead of stopping.")
    max_bad_share: float = arg(0.05, "With skip_bad_rows: stop anyway when more than this share of a source's rows "
                                     "is bad (a wrong file, not a few broken rows).")
    eval_fraction: float = arg(0.1, "Share of prompts held out when eval_data is none (split by prompt text, "
                                    "so every ranking of a prompt lands on the same side).")
    demonstrations: str | None = arg(None, "Demonstrations that define reward 0 (the reward bias, e.g. the SFT "
                                           "data); none: the best-ranked training answers stand in.")
    bias_samples: int = arg(1000, "Demonstrations scored for the reward bias (0: all).")
    out: str = arg("runs/rm", "Run directory; the RM is saved to OUT/model.")
    max_length: int = arg(512, "Longest prompt + answer in tokens; longer ones keep their last tokens (the "
                               "reward is read at the end).")
    batch_size: int = arg(8, "Prompts per micro-batch (each brings all its K answers).")
    grad_accum: int = arg(1, "Micro-batches per optimizer step.")
    epochs: int = arg(1, "Passes over the rankings; InstructGPT trains one epoch, the RM overfits after it.")
    max_steps: int | None = arg(None, "Optimizer steps; overrides epochs.")
    lr: float = arg(1e-5, "Peak learning rate (InstructGPT: 9e-6 for the 6B RM; tiny models take ~1e-3).")
    warmup_steps: int = arg(10, "Linear warm-up steps.")
    weight_decay: float = arg(0.0, "AdamW weight decay on matrices.")
    lora_r: int = arg(0, "LoRA rank (0: full fine-tuning). The merged RM is saved to OUT/model, the adapter to OUT/adapter.")
    lora_alpha: int = arg(32, "LoRA scaling alpha.")
    lora_dropout: float = arg(0.05, "LoRA dropout.")
    prompt_tuning_tokens: int = arg(0, "Prompt tuning instead (0: off): train only this many virtual token "
                                       "embeddings and the scalar head; OUT/model is then a peft adapter on the "
                                       "frozen base.")
    load_in_4bit: bool = arg(False, "QLoRA: the frozen base in 4-bit NF4 under the LoRA adapters (bitsandbytes, "
                                    "CUDA only; needs lora_r > 0).")
    gradient_checkpointing: bool = arg(False, "Trade compute for memory on large models.")
    precision: str = arg("auto", "auto | fp32 | bf16 | fp16 (auto: the faster of bf16 and fp32 here, measured once and cached).")
    trust_remote_code: bool = arg(False, "Allow custom model code from the hub.")
    seed: int = arg(0, "Seed for batch order and the new head's initialisation.")
    eval_every: int = arg(50, "Evaluate held-out accuracy every N steps, and at the end (0: at the end only). 50: "
                              "TRL's reward recipe; enough points for a curve in plots/rm.png.")
    save_every: int = arg(100, "Checkpoint every N steps for resume (0: never).")
    log_every: int = arg(10, "Log training metrics every N steps.")


# ---- encoding ------------------------------------------------------------------------------

def encode(tokenizer, prompt: Sequence[Message | dict], answer: str, max_length: int | None = None) -> list[int]:
    """Token ids of ``prompt`` + the assistant ``answer``, rendered with the chat template.

    Too long: the *last* ``max_length`` tokens are kept, because the reward is read at the end.
    """
    text = render(tokenizer, [*prompt, Message("assistant", answer)])
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and getattr(tokenizer, "add_bos_token", False) and not text.startswith(tokenizer.bos_token):
        ids = [bos, *ids]  # as tokenize_conversation does, so the RM sees what the policy was trained on
    if max_length is not None and len(ids) > max_length:
        ids = ids[-max_length:]
    return ids


@dataclass(frozen=True)
class EncodedRanking:
    """One prompt's K answers as token ids, with their ranks (1 = best, equal = tie)."""

    input_ids: list[list[int]]
    ranks: list[int]

    @property
    def length(self) -> int:
        return max(len(ids) for ids in self.input_ids)


def encode_ranking(tokenizer, ranking: Ranking, max_length: int) -> tuple[EncodedRanking, int]:
    """The encoded ranking and how many of its answers were truncated."""
    ids, truncated = [], 0
    for answer in ranking.answers:
        full = encode(tokenizer, ranking.prompt, answer)
        truncated += len(full) > max_length
        ids.append(full[-max_length:])
    return EncodedRanking(ids, list(ranking.ranks)), truncated


def collate_rankings(items: Sequence[EncodedRanking], pad_id: int) -> dict[str, torch.Tensor]:
    """B rankings -> one padded batch of all their answers plus ``[B, K_max]`` ranks and mask.

    Returns ``input_ids`` / ``attention_mask`` ``[N, T]`` (N = Σ K_b answers, prompt-major order),
    ``ranks`` ``[B, K_max]`` long and ``answer_mask`` ``[B, K_max]`` bool (False on padding slots).
    """
    k_max = max(len(it.ranks) for it in items)
    batch = pad_batch([ids for it in items for ids in it.input_ids], None, pad_id)
    ranks = torch.zeros(len(items), k_max, dtype=torch.long)
    mask = torch.zeros(len(items), k_max, dtype=torch.bool)
    for b, it in enumerate(items):
        ranks[b, : len(it.ranks)] = torch.tensor(it.ranks)
        mask[b, : len(it.ranks)] = True
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "ranks": ranks,
            "answer_mask": mask}


# ---- loss ----------------------------------------------------------------------------------

def count_prompts(batch: dict[str, torch.Tensor]) -> int:
    """Prompts with at least one strict pair: the items the RM loss averages over."""
    return int(strict_pairs(batch["ranks"], batch["answer_mask"]).flatten(1).any(dim=1).sum())


def ranking_batch_loss(model, batch: dict[str, torch.Tensor]) -> LossOutput:
    """InstructGPT eq. 1 for a batch from ``collate_rankings``, summed over prompts (``fit`` normalises).

    One forward pass scores all N answers; the scores are laid out ``[B, K_max]`` (prompt-major,
    the order ``collate_rankings`` flattened them in) for ``ranking_loss``.
    """
    scores = sequence_scores(model, batch["input_ids"], batch["attention_mask"])  # [N]
    mask = batch["answer_mask"]
    rewards = scores.new_zeros(mask.shape).masked_scatter(mask, scores)  # [B, K_max]
    loss, stats = ranking_loss(rewards, batch["ranks"], mask)
    n = int(stats.num_prompts)
    # ranking_loss is the mean over prompts with a pair; the loop wants their sum.
    return LossOutput(loss * n, n, num_tokens=int(batch["attention_mask"].sum()),
                      metrics={"accuracy": float(stats.accuracy), "margin": float(stats.margin)})


# ---- scoring and evaluation ----------------------------------------------------------------

@no_grad
def score_sequences(model, sequences: Sequence[list[int]], pad_id: int, batch_size: int = 32) -> list[float]:
    """Raw head output at the last token of each sequence (no bias applied), batched by length."""
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = [0.0] * len(sequences)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        b = pad_batch([sequences[i] for i in idx], None, pad_id)
        scores = sequence_scores(model, b["input_ids"].to(device), b["attention_mask"].to(device))
        for i, v in zip(idx, scores.float().tolist()):
            out[i] = v
    return out


def ranking_metrics(rankings: Sequence[Ranking], scores: Sequence[Sequence[float]]) -> dict[str, float]:
    """Held-out RM metrics from each ranking's answer scores.

    ``pairwise_accuracy``: strict pairs the scores order like the ranking (a score tie is wrong).
    ``accuracy_<criterion>``: over answer pairs whose judgements differ on that criterion (rank
    ties included), the fraction where the RM prefers the answer better on it. Absent when no
    pair differs. ``loss``: eq. 1 on the held-out rankings.
    """
    k_max = max(r.k for r in rankings)
    rewards = torch.zeros(len(rankings), k_max, dtype=torch.float64)
    ranks = torch.zeros(len(rankings), k_max, dtype=torch.long)
    mask = torch.zeros(len(rankings), k_max, dtype=torch.bool)
    for b, (r, s) in enumerate(zip(rankings, scores)):
        rewards[b, : r.k] = torch.tensor(list(s), dtype=torch.float64)
        ranks[b, : r.k] = torch.tensor(r.ranks)
        mask[b, : r.k] = True
    loss, stats = ranking_loss(rewards, ranks, mask)
    out = {"loss": float(loss), "pairwise_accuracy": float(stats.accuracy), "margin": float(stats.margin),
           "num_pairs": float(stats.num_pairs), "num_prompts": float(len(rankings))}
    hits = dict.fromkeys(CRITERIA, 0)
    totals = dict.fromkeys(CRITERIA, 0)
    for r, s in zip(rankings, scores):
        if r.judgements is None:
            continue
        for i, j in itertools.combinations(range(r.k), 2):
            for c in CRITERIA:
                a, b = getattr(r.judgements[i], c), getattr(r.judgements[j], c)
                if a is None or b is None or a == b:
                    continue
                better, worse = (i, j) if a > b else (j, i)
                hits[c] += s[better] > s[worse]
                totals[c] += 1
    for c in CRITERIA:
        out[f"num_pairs_{c}"] = float(totals[c])
        if totals[c]:
            out[f"accuracy_{c}"] = hits[c] / totals[c]
    flat = [v for s in scores for v in s]
    mean = sum(flat) / len(flat)
    out["reward_mean"] = mean
    out["reward_std"] = math.sqrt(sum((v - mean) ** 2 for v in flat) / max(len(flat) - 1, 1))
    return out


def prompt_key(prompt: Sequence[Message]) -> str:
    return json.dumps(conversation_to_dicts(list(prompt)), ensure_ascii=False, sort_keys=True)


def split_by_prompt(rankings: Sequence[Ranking], fraction: float) -> tuple[list[Ranking], list[Ranking]]:
    """(train, held-out): the ceil(fraction · prompts) prompts with the smallest text hash are held out.

    A function of the prompt text only, not of the seed or file order, so every ranking of a prompt
    (several labelers, several rounds of the loop) lands on the same side, round after round.
    """
    keys = sorted({prompt_key(r.prompt) for r in rankings}, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    n_held = min(math.ceil(fraction * len(keys)), len(keys) - 1) if fraction > 0 else 0
    held = set(keys[:n_held])
    train = [r for r in rankings if prompt_key(r.prompt) not in held]
    return train, [r for r in rankings if prompt_key(r.prompt) in held]


# ---- the RM as other stages use it ---------------------------------------------------------

@dataclass
class RewardModel:
    """A trained RM: ``score`` gives bias-normalised rewards (demonstrations average 0)."""

    model: torch.nn.Module
    tokenizer: object
    bias: float = 0.0
    max_length: int | None = None

    def encode(self, prompt: Sequence[Message | dict], answer: str) -> list[int]:
        return encode(self.tokenizer, prompt, answer, self.max_length)

    def score_ids(self, sequences: Sequence[list[int]], batch_size: int = 32) -> list[float]:
        """Rewards of already-encoded prompt + answer sequences (see ``encode``)."""
        was_training = self.model.training
        self.model.eval()
        raw = score_sequences(self.model, sequences, self.tokenizer.pad_token_id, batch_size)
        self.model.train(was_training)
        return [v - self.bias for v in raw]

    def score(self, prompts: Sequence[Sequence[Message | dict]], answers: Sequence[str], batch_size: int = 32) -> list[float]:
        """r(x, y) for each (prompt conversation, assistant answer), bias-normalised."""
        if len(prompts) != len(answers):
            raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
        return self.score_ids([self.encode(p, a) for p, a in zip(prompts, answers)], batch_size)


def load_reward_model(path: str | Path, device: str | torch.device | None = None, precision: str = "fp32",
                      trust_remote_code: bool = False) -> RewardModel:
    """An RM directory written by ``kaizen rm`` (or any one-label sequence classifier, or a prompt-tuned
    RM's adapter directory), in eval mode."""
    device = torch.device(device) if device is not None else default_device()
    tokenizer = load_tokenizer(str(path), trust_remote_code=trust_remote_code)
    dtype = DTYPES[resolve_precision(precision, device)]
    model = load_scalar_model(str(path), dtype=dtype, trust_remote_code=trust_remote_code).to(device).eval()
    settings_file = Path(path) / ADAPTER_SETTINGS_FILE
    settings = (json.loads(settings_file.read_text()) if settings_file.exists()
                else {k: getattr(model.config, k, None) for k in (BIAS_KEY, MAX_LENGTH_KEY)})
    return RewardModel(model, tokenizer, float(settings.get(BIAS_KEY, 0.0) or 0.0), settings.get(MAX_LENGTH_KEY))


def apply_reward_bias(model, bias: float) -> bool:
    """Make the saved model subtract ``bias``: fold it into the head's bias term when the head has
    one (then plain `transformers` readers get normalised rewards too), else record it in
    ``config.kaizen_reward_bias`` for ``RewardModel.score``. Returns whether it was folded."""
    head = scalar_head(model)
    if isinstance(head, torch.nn.Linear) and head.bias is not None:
        with torch.no_grad():
            head.bias -= bias
        setattr(model.config, BIAS_KEY, 0.0)
        return True
    setattr(model.config, BIAS_KEY, float(bias))
    return False


# ---- the stage -----------------------------------------------------------------------------

def _max_length(wanted: int, config) -> int:
    """``wanted``, capped at the model's positions (a longer sequence would index past them)."""
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return min(wanted, positions) if isinstance(positions, int) and positions > 0 else wanted


def _bias_sequences(cfg: RewardConfig, tokenizer, train: list[Ranking], max_length: int) -> tuple[list[list[int]], str]:
    if cfg.demonstrations:
        demos = [d for d in load_records(cfg.demonstrations, "demonstration") if d.messages[-1].role == "assistant"]
        if cfg.bias_samples and len(demos) > cfg.bias_samples:
            step = len(demos) / cfg.bias_samples  # evenly spaced: files are often grouped by task
            demos = [demos[int(i * step)] for i in range(cfg.bias_samples)]
        pairs, source = [(d.messages[:-1], d.messages[-1].content) for d in demos], cfg.demonstrations
    else:
        pairs = [(r.prompt, r.answers[i]) for r in train for i in range(r.k) if r.ranks[i] == min(r.ranks)]
        pairs = pairs[: cfg.bias_samples or None]
        source = "best-ranked training answers"
    return [encode(tokenizer, p, a, max_length) for p, a in pairs], source


def _load_rankings(sources: Sequence[str], skip_bad: bool = False, max_bad_share: float = 0.05) -> list[Ranking]:
    return [r for src in sources for r in load_records(src, "ranking", skip_bad=skip_bad, max_bad_share=max_bad_share)]


def run(cfg: RewardConfig, should_stop=None) -> Path:
    adapter = AdapterSettings(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.prompt_tuning_tokens, cfg.load_in_4bit)
    adapter.check()  # before any model loads
    run_dir = prepare_run_dir(cfg.out, cfg, "rm")
    precision = resolve_precision(cfg.precision)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    torch.manual_seed(cfg.seed)  # the new head's initialisation
    model = load_scalar_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                              quantization_config=four_bit_config(cfg.load_in_4bit))
    if tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    # SEQ_CLS makes peft train the new scalar head in full (modules_to_save) beside the adapters
    # or the virtual tokens.
    model = apply_adapter(model, adapter, task="SEQ_CLS")

    max_length = _max_length(cfg.max_length, model.config)
    rankings = _load_rankings(cfg.data, cfg.skip_bad_rows, cfg.max_bad_share)
    if cfg.eval_data:
        train, heldout = rankings, _load_rankings([cfg.eval_data])
    else:
        train, heldout = split_by_prompt(rankings, cfg.eval_fraction)
    encoded, truncated = [], 0
    for r in train:
        e, t = encode_ranking(tokenizer, r, max_length)
        truncated += t
        if len(set(e.ranks)) > 1:  # an all-tied ranking has no pair to learn from
            encoded.append(e)
    if not encoded:
        raise ValueError(f"no ranking with a strict pair in {cfg.data}")
    held_ids = [[encode(tokenizer, r.prompt, a, max_length) for a in r.answers] for r in heldout]
    steps_per_epoch = max(1, -(-len(encoded) // cfg.batch_size) // cfg.grad_accum)
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    n_pairs = sum(a < b for e in encoded for a, b in itertools.permutations(e.ranks, 2))
    print(f"rm: {len(encoded)} training prompts ({n_pairs} pairs, mean K "
          f"{sum(len(e.ranks) for e in encoded) / len(encoded):.2f}, {truncated} answers truncated to "
          f"{max_length} tokens), {len(heldout)} held-out prompts, {max_steps} steps")

    plan = BatchPlan([e.length for e in encoded], cfg.batch_size, cfg.seed, bucket_by_length=True)
    pad_id = tokenizer.pad_token_id

    def collate(idx: list[int]) -> dict[str, torch.Tensor]:
        return collate_rankings([encoded[i] for i in idx], pad_id)

    def eval_fn(m) -> dict[str, float]:
        flat = score_sequences(m, [ids for answers in held_ids for ids in answers], pad_id, 4 * cfg.batch_size)
        scores, pos = [], 0
        for r in heldout:
            scores.append(flat[pos:pos + r.k])
            pos += r.k
        return ranking_metrics(heldout, scores)

    settings = LoopSettings(
        lr=cfg.lr, max_steps=max_steps, grad_accum=cfg.grad_accum, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, precision=precision, seed=cfg.seed, log_every=cfg.log_every,
        eval_every=cfg.eval_every, save_every=cfg.save_every, desc="rm",
    )
    result = fit(model, plan, collate, ranking_batch_loss, settings, run_dir, eval_fn=eval_fn if heldout else None,
                 should_stop=should_stop, count_items=count_prompts)
    if result.steps < max_steps:  # interrupted: the checkpoint is the output
        return run_dir

    acc = result.accelerator
    trained = acc.unwrap_model(result.model)
    if cfg.lora_r > 0:
        if acc.is_main_process:
            trained.save_pretrained(run_dir / "adapter")
        trained = trained.merge_and_unload()
    trained.eval()
    bias_ids, bias_source = _bias_sequences(cfg, tokenizer, train, max_length)
    demo_scores = torch.tensor(score_sequences(trained, bias_ids, pad_id, 4 * cfg.batch_size))
    bias = float(reward_bias(demo_scores))
    folded = apply_reward_bias(trained, bias)
    setattr(trained.config, MAX_LENGTH_KEY, max_length)
    _save(acc, trained, result.model if cfg.lora_r == 0 else None, tokenizer, run_dir / "model")
    if heldout and acc.is_main_process:  # the quality report: calibration, length bias, labelers (eval/rm_quality.py)
        from kaizen.eval.rm_quality import rm_quality, split_scores, write_rm_report

        flat = score_sequences(trained, [ids for answers in held_ids for ids in answers], pad_id, 4 * cfg.batch_size)
        write_rm_report(rm_quality(heldout, split_scores(heldout, flat)), run_dir)

    ev = result.eval_metrics
    summary = {
        "pairwise_accuracy": ev.get("pairwise_accuracy"),
        **{f"accuracy_{c}": ev.get(f"accuracy_{c}") for c in CRITERIA},
        "num_pairs": int(ev.get("num_pairs", 0)),
        **{f"num_pairs_{c}": int(ev.get(f"num_pairs_{c}", 0)) for c in CRITERIA},
        "heldout_loss": ev.get("loss"),
        "heldout_prompts": len(heldout),
        "heldout_reward_mean": ev["reward_mean"] - bias if "reward_mean" in ev else None,
        "heldout_reward_std": ev.get("reward_std"),
        "reward_bias": bias,
        "reward_bias_folded": folded,
        "reward_bias_source": bias_source,
        "reward_bias_samples": len(bias_ids),
        "train_prompts": len(encoded),
        "train_pairs": n_pairs,
        "train_loss": result.final_loss,
        "train_accuracy": result.history[-1].get("accuracy") if result.history else None,
        "steps": result.steps,
    }
    if acc.is_main_process:
        (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
        logger = MetricsLogger(run_dir, tensorboard=False)
        logger.log(result.steps, {"reward_bias": bias}, prefix="final/")
    acc_text = f"held-out pairwise accuracy {summary['pairwise_accuracy']:.3f}" if heldout else "no held-out rankings"
    print(f"rm: {acc_text}; reward bias {bias:+.4f} ({'folded into the head' if folded else 'in config'}); "
          f"model saved to {run_dir / 'model'}")
    return run_dir / "model"


def _save(acc, model, prepared, tokenizer, out: Path) -> None:
    """Save through accelerate (whole even when sharded) on the main process.

    Not ``FitResult.save_model``: ``loading.save_pretrained`` sets a generation config, which a
    sequence classifier does not have.
    """
    acc.wait_for_everyone()
    state_dict = acc.get_state_dict(prepared) if prepared is not None else None
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
        tokenizer.save_pretrained(out)
        if virtual_tokens(model):  # an adapter directory: its base's config, with the bias, is not saved
            keys = {k: getattr(model.config, k) for k in (BIAS_KEY, MAX_LENGTH_KEY)}
            (out / ADAPTER_SETTINGS_FILE).write_text(json.dumps(keys, indent=2))
    acc.wait_for_everyone()


def main(argv: list[str]) -> int:
    run(parse_config(RewardConfig, argv, prog="kaizen rm"))
    return 0
