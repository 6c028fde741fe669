"""Reward model (Step 2): eq. 1 wiring against hand values, K varying per batch, accumulation
normalised by prompts, training on every architecture, the reward bias, and a learnable task."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from kaizen.config import parse_config
from kaizen.data.formats import load_records
from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import Judgement, Message, Ranking
from kaizen.models.scalar_head import load_scalar_model, sequence_scores
from kaizen.reward import (
    RewardConfig, apply_reward_bias, collate_rankings, count_prompts, encode, encode_ranking, load_reward_model, ranking_batch_loss,
    run, split_by_prompt,
)

MARKER = "figs"
FILLER = [w for w in ("the capital of zorland is mirepa a fox named pim likes red berries what river veloria it blue "
                      "lune please write short poem about sea i can not help with that thank you was helpful list "
                      "three foods people like bread soup and").split()]


def _sentence(rng: random.Random, lo: int = 3, hi: int = 8) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(rng.randint(lo, hi)))


def marker_rankings(n: int, seed: int = 0) -> list[Ranking]:
    """The answer with MARKER is best; the others tie below it. Its judgement is more helpful and
    truthful; truthfulness of the others is random, harmlessness never differs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.choice([2, 3, 4])
        answers = [_sentence(rng) for _ in range(k)]
        w = rng.randrange(k)
        words = answers[w].split()
        words.insert(rng.randint(0, len(words)), MARKER)
        answers[w] = " ".join(words)
        ranks = [1 if j == w else 2 for j in range(k)]
        judgements = [Judgement(helpful=6 if j == w else 3, truthful=True if j == w else rng.random() < 0.5,
                                harmless=True) for j in range(k)]
        out.append(Ranking([Message("user", _sentence(rng))], answers, ranks, labeler=f"l{i % 3}",
                           judgements=judgements, id=f"p{i}"))
    return out


@pytest.fixture(scope="module")
def rm_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rmdata")
    write_jsonl(root / "rankings.jsonl", [r.to_dict() for r in marker_rankings(24)])
    rng = random.Random(7)
    pairs = [{"prompt": _sentence(rng), "chosen": f"{_sentence(rng)} {MARKER}", "rejected": _sentence(rng)}
             for _ in range(6)]
    write_jsonl(root / "pairs.jsonl", pairs)
    write_jsonl(root / "learnable.jsonl", [r.to_dict() for r in marker_rankings(100, seed=1)])
    return root


def _model(tiny_model_factory, arch="llama"):
    torch.manual_seed(0)
    return load_scalar_model(str(tiny_model_factory(arch)))


def _hand_loss(scores: list[float], ranks: list[int]) -> float | None:
    """-1/C · Σ_{rank_w < rank_l} log σ(r_w - r_l), written out pair by pair."""
    terms = [math.log(1 / (1 + math.exp(-(scores[w] - scores[l]))))
             for w in range(len(ranks)) for l in range(len(ranks)) if ranks[w] < ranks[l]]
    return -sum(terms) / len(terms) if terms else None


def _alone(model, tok, ranking: Ranking) -> list[float]:
    """Each answer scored on its own, unpadded."""
    out = []
    for a in ranking.answers:
        ids = torch.tensor([encode(tok, ranking.prompt, a)])
        with torch.no_grad():
            out.append(sequence_scores(model, ids, torch.ones_like(ids)).item())
    return out


def test_loss_equals_eq1_by_hand_with_a_tie(tiny_tokenizer, tiny_model_factory):
    model = _model(tiny_model_factory).eval()
    r = Ranking([Message("user", "what is the river of veloria ?")],
                ["it is the blue lune .", "i can not help with that .", "the lune", "bread , soup and figs ."],
                ranks=[2, 1, 2, 4])  # answers 0 and 2 tie: 5 strict pairs, not C(4,2) = 6
    enc, _ = encode_ranking(tiny_tokenizer, r, 256)
    batch = collate_rankings([enc], tiny_tokenizer.pad_token_id)
    out = ranking_batch_loss(model, batch)
    expected = _hand_loss(_alone(model, tiny_tokenizer, r), r.ranks)
    assert out.num_items == 1 == count_prompts(batch)
    assert out.loss_sum.item() == pytest.approx(expected, rel=1e-5)
    assert len(r.ordered_pairs()) == 5


def test_k_varies_within_a_batch(tiny_tokenizer, tiny_model_factory):
    model = _model(tiny_model_factory).eval()
    p = [Message("user", "list three foods")]
    rankings = [
        Ranking(p, ["bread", "soup"], [1, 2]),
        Ranking(p, ["bread , soup and figs", "soup", "the sea", "a fox", "pim likes red berries"], [1, 3, 2, 5, 4]),
        Ranking(p, ["figs", "bread", "soup"], [1, 1, 2]),
        Ranking(p, ["figs", "bread", "soup"], [3, 3, 3]),  # all tied: no pair, left out of the mean
    ]
    batch = collate_rankings([encode_ranking(tiny_tokenizer, r, 256)[0] for r in rankings], tiny_tokenizer.pad_token_id)
    assert batch["ranks"].shape == (4, 5) and batch["input_ids"].shape[0] == 2 + 5 + 3 + 3
    assert batch["answer_mask"].sum(1).tolist() == [2, 5, 3, 3]
    out = ranking_batch_loss(model, batch)
    per_prompt = [_hand_loss(_alone(model, tiny_tokenizer, r), r.ranks) for r in rankings]
    assert per_prompt[3] is None
    assert out.num_items == 3 == count_prompts(batch)
    # loss_sum is the sum of per-prompt means, so the loop's division by prompts gives eq. 1.
    assert out.loss_sum.item() == pytest.approx(sum(per_prompt[:3]), rel=1e-5)


def test_accumulation_normalises_by_prompts(tiny_tokenizer, tiny_model_factory):
    """Micro-batches [3 prompts] + [1 prompt], summed and divided by 4, equal one batch of 4:
    same loss and same gradient (the loop's 8 x 1 == 1 x 8 invariant, at the loss's contract)."""
    model = _model(tiny_model_factory)
    model.eval()  # no dropout: compare exact arithmetic
    enc = [encode_ranking(tiny_tokenizer, r, 256)[0] for r in marker_rankings(4, seed=3)]
    pad = tiny_tokenizer.pad_token_id

    def grads(parts):
        model.zero_grad()
        outs = [ranking_batch_loss(model, collate_rankings(part, pad)) for part in parts]
        n = sum(o.num_items for o in outs)
        total = sum(o.loss_sum for o in outs) / n
        total.backward()
        return total.item(), [p.grad.clone() for p in model.parameters()]

    loss_a, g_a = grads([enc])
    loss_b, g_b = grads([enc[:3], enc[3:]])
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    for a, b in zip(g_a, g_b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_bias_folds_into_a_head_that_has_one(tiny_tokenizer, tiny_model_factory):
    model = _model(tiny_model_factory).eval()
    ids = torch.tensor([encode(tiny_tokenizer, [Message("user", "hi")], "hello")])
    with torch.no_grad():
        assert not apply_reward_bias(model, 0.5) and model.config.kaizen_reward_bias == 0.5  # Llama: no bias term
        before = sequence_scores(model, ids, torch.ones_like(ids)).item()
        model.score = torch.nn.Linear(model.score.in_features, 1, bias=True)
        model.score.bias.zero_()
        raw = sequence_scores(model, ids, torch.ones_like(ids)).item()
        assert apply_reward_bias(model, 0.5) and model.config.kaizen_reward_bias == 0.0
        assert sequence_scores(model, ids, torch.ones_like(ids)).item() == pytest.approx(raw - 0.5, abs=1e-6)
    assert before != raw  # a new head, to be sure the fold is what moved the score


def test_split_by_prompt_is_deterministic_and_disjoint():
    rankings = marker_rankings(40, seed=5)
    rankings += [Ranking(r.prompt, r.answers, r.ranks, labeler="again") for r in rankings[:10]]  # second labels
    train, held = split_by_prompt(rankings, 0.2)
    train2, held2 = split_by_prompt(list(reversed(rankings)), 0.2)
    key = lambda rs: sorted(json.dumps([m.content for m in r.prompt]) for r in rs)  # noqa: E731
    assert key(held) == key(held2) and key(train) == key(train2)
    held_prompts = {r.prompt[0].content for r in held}
    assert len(held_prompts) == 8 and not held_prompts & {r.prompt[0].content for r in train}


def _cfg(model_dir, data, out, **kw) -> RewardConfig:
    base = dict(model=str(model_dir), data=[str(d) for d in data], out=str(out), demonstrations=None,
                eval_fraction=0.2, batch_size=4, max_steps=10, lr=3e-3, warmup_steps=0, save_every=0, log_every=1,
                max_length=96, precision="fp32")
    base.update(kw)
    return RewardConfig(**base)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "gpt_neox"])
def test_rm_trains_every_architecture(arch, tiny_model_factory, tiny_sft_data, rm_data, tmp_path):
    model_dir = tiny_model_factory(arch)
    data = [rm_data / "rankings.jsonl"] + ([rm_data / "pairs.jsonl"] if arch == "llama" else [])
    out = run(_cfg(model_dir, data, tmp_path / "rm", demonstrations=str(tiny_sft_data), max_steps=10))

    before = load_file(str(model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    shared = [k for k in after if k in before]
    assert len(shared) >= len(after) - 1  # everything but the new head comes from the LM
    unchanged = [k for k in shared if torch.equal(before[k], after[k])]
    assert not unchanged, f"unchanged parameters: {unchanged}"
    torch.manual_seed(0)  # the run's seed: the head's initial values
    head_init = {k: v for k, v in load_scalar_model(str(model_dir)).state_dict().items() if k not in before}
    assert head_init and all(not torch.equal(head_init[k], after[k]) for k in head_init)

    losses = [json.loads(l)["train/loss"] for l in (tmp_path / "rm" / "metrics.jsonl").read_text().splitlines()
              if "train/loss" in l]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3

    # A plain transformers directory; its raw logit minus the recorded bias is RewardModel.score.
    plain = AutoModelForSequenceClassification.from_pretrained(out).eval()
    rm = load_reward_model(out, device="cpu")
    prompt, answer = [Message("user", "what is the capital of zorland ?")], "it is mirepa ."
    ids = torch.tensor([rm.encode(prompt, answer)])
    with torch.no_grad():
        raw = plain(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, 0].item()
    assert rm.score([prompt], [answer])[0] == pytest.approx(raw - plain.config.kaizen_reward_bias, abs=1e-5)

    # The bias gives the demonstrations a mean reward of 0.
    demos = load_records(tiny_sft_data, "demonstration")
    scores = rm.score([d.messages[:-1] for d in demos], [d.messages[-1].content for d in demos], batch_size=5)
    assert abs(sum(scores) / len(scores)) < 1e-4
    report = json.loads((tmp_path / "rm" / "eval.json").read_text())
    assert report["reward_bias"] == pytest.approx(plain.config.kaizen_reward_bias)
    for key in ("pairwise_accuracy", "accuracy_helpful", "accuracy_truthful", "accuracy_harmless", "num_pairs"):
        assert key in report
    assert report["accuracy_harmless"] is None and report["num_pairs"] > 0


def test_learnable_task_reaches_high_heldout_accuracy(tiny_model_factory, rm_data, tmp_path):
    out = run(_cfg(tiny_model_factory("llama"), [rm_data / "learnable.jsonl"], tmp_path / "rm", batch_size=6,
                   max_steps=20, lr=3e-3, warmup_steps=2))
    report = json.loads((tmp_path / "rm" / "eval.json").read_text())
    assert report["heldout_prompts"] == 20 and report["num_pairs"] > 20
    assert report["pairwise_accuracy"] >= 0.9, report
    assert report["accuracy_helpful"] >= 0.9, report
    # The bias source stood in for demonstrations: the best-ranked training answers average 0.
    assert report["reward_bias_source"] == "best-ranked training answers"
    assert (out / "config.json").exists()


def test_lora_rm_saves_merged_model(tiny_model_factory, rm_data, tmp_path):
    out = run(_cfg(tiny_model_factory("llama"), [rm_data / "rankings.jsonl"], tmp_path / "rm", lora_r=4, max_steps=3))
    assert (tmp_path / "rm" / "adapter" / "adapter_config.json").exists()
    plain = AutoModelForSequenceClassification.from_pretrained(out)
    assert not any("lora" in k for k in plain.state_dict())
    before = load_file(str(tiny_model_factory("llama") / "model.safetensors"))
    after = plain.state_dict()
    # The merged adapters changed the attention / MLP matrices; embeddings were frozen.
    assert not torch.equal(before["model.layers.0.self_attn.q_proj.weight"], after["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    assert math.isfinite(load_reward_model(out, device="cpu").score([[Message("user", "hi")]], ["hello"])[0])


def test_prompt_tuned_rm_reloads_with_the_scores_it_trained_to(tiny_model_factory, tiny_sft_data, rm_data, tmp_path):
    from kaizen.config import ConfigError
    from kaizen.models.scalar_head import scalar_head
    from kaizen.ppo import PPOConfig, check_config

    model_dir = tiny_model_factory("llama")
    out = run(_cfg(model_dir, [rm_data / "rankings.jsonl"], tmp_path / "rm", prompt_tuning_tokens=4,
                   demonstrations=str(tiny_sft_data), lr=3e-2, max_steps=10))
    assert (out / "adapter_config.json").exists() and not (out / "config.json").exists()
    losses = [json.loads(l)["train/loss"] for l in (tmp_path / "rm" / "metrics.jsonl").read_text().splitlines()
              if "train/loss" in l]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3

    # Only the virtual tokens and the head trained: they are all the adapter holds (the base loads from model_dir).
    assert set(load_file(str(out / "adapter_model.safetensors"))) == {"prompt_embeddings", "base_model.score.weight"}
    rm = load_reward_model(out, device="cpu")
    torch.manual_seed(0)  # the run's seed: the head's initial values
    head_init = load_scalar_model(str(model_dir)).score.weight
    assert not torch.equal(head_init, scalar_head(rm.model).modules_to_save["default"].weight)  # the head trained

    # The reloaded RM scores as the trained one did: the bias (computed in memory before saving) still
    # gives the demonstrations mean 0, and the held-out answers the mean eval.json reports.
    report = json.loads((tmp_path / "rm" / "eval.json").read_text())
    assert rm.bias == pytest.approx(report["reward_bias"]) and rm.max_length == 96
    demos = load_records(tiny_sft_data, "demonstration")
    scores = rm.score([d.messages[:-1] for d in demos], [d.messages[-1].content for d in demos], batch_size=5)
    assert abs(sum(scores) / len(scores)) < 1e-4
    _, held = split_by_prompt(load_records(rm_data / "rankings.jsonl", "ranking"), 0.2)
    held_scores = rm.score([r.prompt for r in held for _ in r.answers], [a for r in held for a in r.answers])
    assert sum(held_scores) / len(held_scores) == pytest.approx(report["heldout_reward_mean"], abs=1e-4)
    # The score is peft's own pooled logit (the head at the last token, after the virtual ones), and
    # right padding in a batch changes nothing: the virtual tokens sit in front of every row.
    ids = torch.tensor([rm.encode(held[0].prompt, held[0].answers[0])])
    with torch.no_grad():
        pooled = rm.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, 0].item()
    alone = [s - rm.bias for s in _alone(rm.model, rm.tokenizer, held[0])]
    assert alone[0] == pytest.approx(pooled - rm.bias, abs=1e-5)
    assert rm.score([held[0].prompt] * held[0].k, held[0].answers) == pytest.approx(alone, abs=1e-5)

    with pytest.raises(ConfigError, match="'reward_model'.*prompt-tuned"):
        check_config(PPOConfig(reward_model=str(out), prompts=["p.jsonl"], ptx_coef=0.0))
    check_config(PPOConfig(reward_model=str(out), prompts=["p.jsonl"], ptx_coef=0.0, algo="grpo", group_size=2))


def test_a_prompt_tuned_causal_lm_is_no_scalar_model(tiny_model_factory, tmp_path):
    from kaizen.models.adapters import AdapterSettings, apply_adapter
    from kaizen.models.loading import load_causal_lm

    apply_adapter(load_causal_lm(str(tiny_model_factory("llama"))), AdapterSettings(prompt_tuning_tokens=4)) \
        .save_pretrained(tmp_path / "sft")
    with pytest.raises(ValueError, match="CAUSAL_LM peft adapter"):
        load_scalar_model(str(tmp_path / "sft"))
    from kaizen.config import ConfigError
    from kaizen.ppo import PPOConfig, check_config

    with pytest.raises(ConfigError, match="'policy'.*peft adapter"):  # PPO would train a frozen copy
        check_config(PPOConfig(policy=str(tmp_path / "sft"), prompts=["p.jsonl"], ptx_coef=0.0))


def test_cli_flags(tmp_path):
    cfg = parse_config(RewardConfig, ["--data", "a.jsonl", "b.jsonl", "--lora_r", "8", "--demonstrations", "none",
                                      "--eval-fraction", "0.05"])
    assert cfg.data == ["a.jsonl", "b.jsonl"] and cfg.lora_r == 8 and cfg.demonstrations is None
    assert cfg.eval_fraction == 0.05
    with pytest.raises(Exception, match="lora_r"):
        parse_config(RewardConfig, ["--lora-rr", "8"])


def test_resume_after_kill_matches_uninterrupted(tiny_model_factory, rm_data, tmp_path):
    model_dir, data = tiny_model_factory("llama"), [rm_data / "rankings.jsonl"]
    full = run(_cfg(model_dir, data, tmp_path / "full", max_steps=4, grad_accum=2, batch_size=2))
    cfg = _cfg(model_dir, data, tmp_path / "killed", max_steps=4, grad_accum=2, batch_size=2, save_every=2)
    run(cfg, should_stop=lambda step: step == 3)  # "killed" after step 3; last checkpoint: step 2
    assert not (tmp_path / "killed" / "model").exists()
    resumed = run(cfg)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    bias = [json.loads((d / "eval.json").read_text())["reward_bias"] for d in (tmp_path / "full", tmp_path / "killed")]
    assert bias[0] == pytest.approx(bias[1], abs=1e-6)
