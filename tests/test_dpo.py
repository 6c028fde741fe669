"""DPO end to end on tiny models, and its wiring against hand computation and TRL's own code."""

from __future__ import annotations

import copy
import json
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import Message, PreferencePair
from kaizen.dpo import (
    DPOConfig, collate_pairs, load_pairs, main, pair_loss, run, sequence_logps, tokenize_pair, tokenize_pairs,
)
from kaizen.models.loading import load_causal_lm, load_tokenizer

from conftest import sample_sentences

GOOD = ["it is the blue lune .", "the capital of zorland is mirepa .", "bread , soup and figs .",
        "a fox named pim likes red berries ."]
BAD = "i can not help with that ."


def _pref_rows(n: int, seed: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        (q,) = sample_sentences(1, seed=seed * 1000 + i)
        prompt = [{"role": "user", "content": q}]
        if i % 4 == 0:  # multi-turn: an earlier answer is context, not a target
            prompt = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": GOOD[1]}] + prompt
        rows.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": GOOD[i % len(GOOD)]}],
                     "rejected": [{"role": "assistant", "content": BAD}]})
    return rows


@pytest.fixture(scope="module")
def pref_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("dpodata") / "prefs.jsonl"
    write_jsonl(path, _pref_rows(16))
    write_jsonl(path.with_name("heldout.jsonl"), _pref_rows(8, seed=1))
    return path


def _cfg(model_dir, data, out, **kw) -> DPOConfig:
    heldout = str(data.with_name("heldout.jsonl"))
    base = dict(model=str(model_dir), data=[str(data)], eval_data=heldout, out=str(out), batch_size=4, max_steps=6,
                lr=1e-3, beta=0.1, warmup_steps=0, save_every=0, log_every=1, max_length=96, precision="fp32")
    base.update(kw)
    return DPOConfig(**base)


def _train_rows(run_dir):
    return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if "train/loss" in l]


# ---- tokenization ---------------------------------------------------------------------------

def test_labels_fall_on_the_final_answer_only(tiny_tokenizer):
    pair = PreferencePair([Message("user", "hi"), Message("assistant", "thank you"), Message("user", "the capital ?")],
                          "it is mirepa .", "i can not help")
    ex, _, _ = tokenize_pair(tiny_tokenizer, pair, max_length=200)
    assert tiny_tokenizer.decode(ex.chosen_ids) == "it is mirepa .<|end|>\n"
    assert tiny_tokenizer.decode(ex.rejected_ids) == "i can not help<|end|>\n"
    prompt = tiny_tokenizer.decode(ex.prompt_ids)
    assert "thank you" in prompt and prompt.endswith("<|assistant|>\n")  # the earlier answer is context
    batch = collate_pairs([ex], tiny_tokenizer.pad_token_id)
    targets = batch["labels"][batch["labels"] != -100].tolist()
    assert targets == ex.chosen_ids + ex.rejected_ids


def test_long_prompts_keep_their_end_and_overlong_pairs_are_skipped(tiny_tokenizer):
    long_q = " ".join(sample_sentences(12, seed=3))
    pair = PreferencePair([Message("user", long_q)], "it is mirepa .", "no")
    full, _, _ = tokenize_pair(tiny_tokenizer, pair, max_length=10_000)
    ex, prompt_cut, answer_cut = tokenize_pair(tiny_tokenizer, pair, max_length=64, max_prompt_length=20)
    assert prompt_cut and not answer_cut and ex.prompt_ids == full.prompt_ids[-20:]
    _, stats = tokenize_pairs(tiny_tokenizer, [pair, PreferencePair([Message("user", "hi")], "a", "b")],
                              max_length=len(full.prompt_ids), max_prompt_length=None)
    assert (stats.pairs, stats.skipped) == (1, 1)


def test_ranking_ties_give_no_pair(tmp_path, tiny_model_factory):
    path = tmp_path / "rankings.jsonl"
    write_jsonl(path, [{"prompt": [{"role": "user", "content": "what is the capital ?"}],
                        "answers": ["mirepa .", "it is mirepa .", "i can not help .", "figs"],
                        "ranks": [1, 1, 2, 3], "labeler": "t"}])
    pairs = load_pairs([str(path)])
    got = {(p.chosen, p.rejected) for p in pairs}
    assert len(pairs) == 5 and not {("mirepa .", "it is mirepa ."), ("it is mirepa .", "mirepa .")} & got
    # The command reads rankings and trains on exactly those pairs.
    out = tmp_path / "dpo"
    main(["--model", str(tiny_model_factory("llama")), "--data", str(path), "--out", str(out), "--max_steps", "1",
          "--lr", "1e-3", "--save_every", "0", "--precision", "fp32"])
    assert json.loads((out / "eval.json").read_text())["pairs"] == 5


# ---- wiring: log-probs by hand, loss against TRL ----------------------------------------------

def _trl_loss(model, ex_list, ref, beta, loss_type, pad_id):
    """TRL's ``DPOTrainer._compute_loss`` on TRL's own collated batch and fused LM head."""
    trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")
    from trl.trainer.utils import add_fused_lm_head

    model = copy.deepcopy(model)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    collator = trl_dpo.DataCollatorForPreference(pad_token_id=pad_id)
    inputs = collator([{"prompt_ids": e.prompt_ids, "chosen_ids": e.chosen_ids, "rejected_ids": e.rejected_ids}
                       for e in ex_list])
    inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = ref[:, 0], ref[:, 1]
    trainer = object.__new__(trl_dpo.DPOTrainer)
    attrs = dict(model=model, aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True,
                 f_divergence_type="reverse_kl", loss_types=[loss_type], loss_weights=[1.0], beta=beta,
                 label_smoothing=0.0, use_weighting=False, _total_train_tokens=0, _tp_size=1,
                 _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
                 accelerator=SimpleNamespace(device=torch.device("cpu"), gather_for_metrics=lambda x: x,
                                             gather=lambda x: x))
    for k, v in attrs.items():
        setattr(trainer, k, v)
    with torch.no_grad():
        loss = trainer._compute_loss(model, inputs, return_outputs=False)
    mode = "train" if model.training else "eval"  # TRL files metrics under the model's mode
    return inputs, loss.item(), {k: v[-1] for k, v in trainer._metrics[mode].items()}


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "hinge"])
def test_stage_loss_matches_hand_logps_and_trl(loss_type, tiny_model_factory, pref_data):
    model_dir = tiny_model_factory("llama")
    tok = load_tokenizer(str(model_dir))
    model = load_causal_lm(str(model_dir)).eval()
    ex_list, _ = tokenize_pairs(tok, load_pairs([str(pref_data)])[:3], max_length=96)
    ref = torch.tensor([[-40.0, -35.0], [-20.0, -28.0], [-33.0, -31.0]])  # any fixed reference log-probs
    batch = collate_pairs(ex_list, tok.pad_token_id, ref)
    with torch.no_grad():
        policy = sequence_logps(model, batch)
        out = pair_loss(policy, batch["ref_logps"], batch, beta=0.1, loss_type=loss_type)

    # By hand: each sequence alone (no padding), log-softmax, sum over the answer tokens only.
    with torch.no_grad():
        rows = [(e, e.chosen_ids) for e in ex_list] + [(e, e.rejected_ids) for e in ex_list]
        for row, (e, answer) in enumerate(rows):
            ids = torch.tensor([e.prompt_ids + answer])
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
            start = len(e.prompt_ids)
            hand = sum(logp[t - 1, ids[0, t]] for t in range(start, ids.shape[1]))
            assert policy[row].item() == pytest.approx(hand.item(), abs=1e-4)

    inputs, trl_loss, trl_metrics = _trl_loss(model, ex_list, ref, 0.1, loss_type, tok.pad_token_id)
    # Same rows, same answer mask as TRL's collator.
    assert torch.equal(inputs["input_ids"], batch["input_ids"])
    assert torch.equal(inputs["completion_mask"].bool(), batch["labels"] != -100)
    assert out.num_items == 3
    assert out.loss_sum.item() / out.num_items == pytest.approx(trl_loss, abs=1e-5)
    for name in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                 "logps/chosen", "logps/rejected"):
        assert out.metrics[name] == pytest.approx(trl_metrics[name], abs=1e-4), name


# ---- end to end -------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "gpt_neox"])
def test_dpo_trains_every_architecture(arch, tiny_model_factory, pref_data, tmp_path):
    model_dir = tiny_model_factory(arch)
    out = run(_cfg(model_dir, pref_data, tmp_path / "dpo"))
    before = load_file(str(model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before), f"unchanged parameters: {set(before) - set(changed)}"
    rows = _train_rows(tmp_path / "dpo")
    # Step 1: the policy is the reference, so every implicit reward is 0 and the loss is log 2.
    assert rows[0]["train/loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert rows[0]["train/rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert rows[-1]["train/loss"] < rows[0]["train/loss"]
    assert rows[-1]["train/rewards/margins"] > 0
    report = json.loads((tmp_path / "dpo" / "eval.json").read_text())
    assert report["heldout_rewards/accuracies"] >= 0.75 and report["heldout_rewards/margins"] > 0
    assert report["pairs"] == 16 and report["skipped"] == 0
    AutoModelForCausalLM.from_pretrained(out)


def test_resume_after_kill_matches_uninterrupted(tiny_model_factory, pref_data, tmp_path):
    model_dir = tiny_model_factory("llama")
    full = run(_cfg(model_dir, pref_data, tmp_path / "full", eval_data=None, grad_accum=2))
    # "Kill" after step 5 (last checkpoint: step 4); the rerun recomputes the reference from the
    # initial model, not from the checkpoint, and finishes on the same batches.
    cfg = _cfg(model_dir, pref_data, tmp_path / "killed", eval_data=None, grad_accum=2, save_every=2)
    run(cfg, should_stop=lambda step: step == 5)
    assert not (tmp_path / "killed" / "model").exists()
    resumed = run(cfg)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_label_smoothing_needs_the_sigmoid_loss(tmp_path):
    from kaizen.config import ConfigError

    with pytest.raises(ConfigError, match="label_smoothing"):
        run(DPOConfig(out=str(tmp_path / "x"), loss_type="ipo", label_smoothing=0.1))


def test_precomputed_reference_equals_reference_model(tiny_model_factory, pref_data, tmp_path):
    model_dir = tiny_model_factory("gpt2")
    a = run(_cfg(model_dir, pref_data, tmp_path / "pre", max_steps=3, grad_accum=2, eval_data=None))
    b = run(_cfg(model_dir, pref_data, tmp_path / "live", max_steps=3, grad_accum=2, eval_data=None,
                 precompute_ref=False))
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6)


@pytest.mark.parametrize("precompute_ref", [False, True])
def test_lora_reference_is_the_untouched_base(precompute_ref, tiny_model_factory, pref_data, tmp_path):
    from peft import PeftModel

    model_dir = tiny_model_factory("qwen2")
    out = run(_cfg(model_dir, pref_data, tmp_path / "lora", lora_r=4, lr=1e-2, precompute_ref=precompute_ref))
    rows = _train_rows(tmp_path / "lora")
    assert rows[0]["train/loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert rows[-1]["train/rewards/margins"] > 0
    ids = torch.tensor([list(range(3, 20))])
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
        peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), tmp_path / "lora" / "adapter")
        peft.eval()
        with peft.disable_adapter():
            torch.testing.assert_close(peft(input_ids=ids).logits, base_logits, rtol=0, atol=0)
        tuned = peft(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(out)(input_ids=ids).logits
    assert not torch.allclose(tuned, base_logits)
    torch.testing.assert_close(merged, tuned, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("precompute_ref", [True, False])
def test_prompt_tuning_trains_virtual_tokens_against_the_base(precompute_ref, tiny_model_factory, pref_data, tmp_path):
    from kaizen.generation import SamplingParams, chat_prompt, generate

    model_dir = tiny_model_factory("llama")
    # One micro-batch of all 16 pairs: step 1's metrics cover exactly the pairs scored below.
    out = run(_cfg(model_dir, pref_data, tmp_path / "pt", prompt_tuning_tokens=4, lr=3e-2, batch_size=16,
                   eval_data=None, precompute_ref=precompute_ref))
    assert (out / "adapter_config.json").exists() and not (out / "config.json").exists()
    rows = _train_rows(tmp_path / "pt")
    assert rows[-1]["train/loss"] < rows[0]["train/loss"] and rows[-1]["train/rewards/margins"] > 0

    # The reference is the base model: step 1's implied reference log-probs (policy - reward / beta)
    # equal the base's own. The loss there is not log 2: the initial virtual tokens already move the policy.
    tok = load_tokenizer(str(model_dir))
    base = load_causal_lm(str(model_dir)).eval()
    examples, _ = tokenize_pairs(tok, load_pairs([str(pref_data)]), max_length=96, max_prompt_length=256)
    batch = collate_pairs(examples, tok.pad_token_id)
    with torch.no_grad():
        ref_chosen, ref_rejected = sequence_logps(base, batch).chunk(2)
    first = rows[0]
    assert first["train/logps/chosen"] - first["train/rewards/chosen"] / 0.1 == pytest.approx(
        ref_chosen.mean().item(), abs=1e-3)
    assert first["train/logps/rejected"] - first["train/rewards/rejected"] / 0.1 == pytest.approx(
        ref_rejected.mean().item(), abs=1e-3)

    # Only the virtual tokens trained: they are all the adapter holds (the base loads from model_dir).
    saved = load_file(str(out / "adapter_model.safetensors"))
    assert list(saved) == ["prompt_embeddings"] and saved["prompt_embeddings"].shape[0] == 4
    tuned = load_causal_lm(str(out)).eval()  # the adapter with its base, as later stages load it
    with torch.no_grad():  # the padded pass a prompt-tuned policy takes equals each row alone behind its virtual tokens
        policy = sequence_logps(tuned, batch)
        for row, (e, answer) in enumerate([(e, e.chosen_ids) for e in examples[:2]]):
            ids = torch.tensor([e.prompt_ids + answer])
            logp = torch.log_softmax(tuned(input_ids=ids).logits[0, 4:].double(), -1)
            hand = sum(logp[t - 1, ids[0, t]] for t in range(len(e.prompt_ids), ids.shape[1]))
            assert policy[row].item() == pytest.approx(hand.item(), abs=1e-4)
    gens = generate(tuned, tok, [chat_prompt(tok, [Message("user", "where is the blue lune ?")])],
                    SamplingParams(8, greedy=True))
    assert gens[0].response_ids


def test_prompt_tuning_is_the_same_precomputed_live_or_resumed(tiny_model_factory, pref_data, tmp_path):
    # Same seed, same virtual-token initialisation, same base reference: the same trained tokens.
    model_dir = tiny_model_factory("llama")
    runs = [run(_cfg(model_dir, pref_data, tmp_path / str(pre), prompt_tuning_tokens=4, lr=3e-2, max_steps=3,
                     eval_data=None, precompute_ref=pre)) for pre in (True, False)]
    a, b = (load_file(str(out / "adapter_model.safetensors"))["prompt_embeddings"] for out in runs)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # A killed prompt-tuning run resumes from its checkpoint to the same tokens.
    cfg = _cfg(model_dir, pref_data, tmp_path / "killed", prompt_tuning_tokens=4, lr=3e-2, max_steps=3,
               eval_data=None, save_every=2)
    run(cfg, should_stop=lambda step: step == 2)
    resumed = load_file(str(run(cfg) / "adapter_model.safetensors"))["prompt_embeddings"]
    torch.testing.assert_close(resumed, a, rtol=0, atol=1e-6)


def test_prompt_tuning_and_lora_together_are_refused(tmp_path):
    from kaizen.config import ConfigError

    with pytest.raises(ConfigError, match="'lora_r' and 'prompt_tuning_tokens'"):
        run(DPOConfig(out=str(tmp_path / "x"), lora_r=4, prompt_tuning_tokens=4))
    assert not (tmp_path / "x").exists()
