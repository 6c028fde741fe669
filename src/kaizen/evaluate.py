"""Evaluation: what each turn of the loop bought, and what it cost.

    kaizen eval --world runs/world --models sft=runs/sft/model ppo_ptx=runs/ppo-ptx/model \
        --fewshot base=runs/pretrain/model --reference sft --reward_model runs/rm/model

On held-out prompts, every model samples one answer per prompt; the demo world's noise-free gold
judge scores them. Per model: gold-judge win rate against the reference (SFT) with a 95%
confidence interval, truthful rate, harmful compliance, over-refusal, mean KL to the reference
on the model's own answers, mean answer length (verbosity), held-out pretraining loss (the
alignment tax) and, given a reward model, the proxy reward next to the gold score (to spot
over-optimisation). Base models are prompted few-shot (``--fewshot``), as InstructGPT did.
Writes ``OUT/results.json``, ``OUT/results.md`` and ``OUT/*.png``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kaizen.config import arg, parse_config
from kaizen.data.formats import load_records
from kaizen.generation import SamplingParams, chat_prompt, generate
from kaizen.lazy import lazy_import, no_grad
from kaizen.losses.sft import sequence_logprob
from kaizen.models.loading import default_device, load_causal_lm, load_tokenizer
from kaizen.training.batching import pad_batch
from kaizen.training.lm import mean_nll, padded_batches
from kaizen.training.rundir import prepare_run_dir

torch = lazy_import("torch")


@dataclass(frozen=True)
class EvalConfig:
    """Compare models on held-out prompts by the gold judge."""

    world: str = arg("runs/world", "Demo world directory (prompts, gold judge, held-out corpus).")
    models: list[str] = arg([], "Chat models as NAME=PATH (prompted with the chat template).")
    fewshot: list[str] = arg([], "Base models as NAME=PATH (prompted few-shot).")
    reference: str = arg("sft", "Model NAME that win rates and KL are measured against.")
    reward_model: str | None = arg(None, "Reward model directory: report its score beside the gold score.")
    out: str = arg("runs/eval", "Output directory.")
    split: str = arg("heldout", "Prompt split of the world: heldout | train.")
    num_prompts: int = arg(200, "Held-out prompts evaluated (0: all).")
    max_new_tokens: int = arg(64, "Longest sampled answer.")
    temperature: float = arg(0.0, "Sampling temperature (0: greedy, the default for comparisons).")
    top_p: float = arg(1.0, "Nucleus sampling mass.")
    num_shots: int = arg(3, "Examples in the few-shot prompt of base models.")
    pretrain_blocks: int = arg(32, "Held-out corpus blocks for the pretraining loss (0: skip).")
    seed: int = arg(0, "Sampling seed.")


@dataclass
class ModelResult:
    name: str
    path: str
    prompting: str  # chat | fewshot
    gold_score: float = 0.0
    helpful: float = 0.0
    win_rate_vs_ref: float | None = None
    ci95: tuple[float, float] | None = None
    truthful_rate: float = 0.0
    harmful_compliance: float = 0.0
    over_refusal: float = 0.0
    kl_to_ref: float | None = None
    mean_length: float = 0.0
    pretrain_loss: float | None = None
    rm_score: float | None = None
    samples: list[dict] = field(default_factory=list)


def parse_named(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"model spec '{spec}' must be NAME=PATH")
        name, path = spec.split("=", 1)
        out.append((name.strip(), path.strip()))
    return out


def mean_ci95(outcomes: list[float]) -> tuple[float, tuple[float, float]]:
    """Mean of per-prompt outcomes (win 1, tie 0.5, loss 0) with a normal-approximation 95% CI."""
    n = len(outcomes)
    mean = sum(outcomes) / n
    var = sum((o - mean) ** 2 for o in outcomes) / max(n - 1, 1)
    half = 1.96 * math.sqrt(var / n)
    return mean, (max(0.0, mean - half), min(1.0, mean + half))


@no_grad
def answer_logprobs(model, tokenizer, prompts: list[str], answers: list[list[int]], batch_size: int = 16) -> list[float]:
    """Summed log-probability of each answer's tokens given its rendered prompt."""
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(prompts), batch_size):
        seqs, labels = [], []
        for p, a in zip(prompts[s:s + batch_size], answers[s:s + batch_size]):
            pid = tokenizer(p, add_special_tokens=False)["input_ids"]
            seqs.append(pid + a)
            labels.append([-100] * len(pid) + a)
        batch = {k: v.to(device) for k, v in pad_batch(seqs, labels, tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        out.extend(sequence_logprob(logits, batch["labels"]).tolist())
    return out


def run(cfg: EvalConfig) -> dict:
    from kaizen.world import DemoWorld
    from kaizen.world.world import FEW_SHOT_STOPS

    out_dir = prepare_run_dir(cfg.out, cfg, "eval")
    world = DemoWorld.load(cfg.world)
    prompts = world.prompts(cfg.split)
    prompts = prompts[: cfg.num_prompts] if cfg.num_prompts else prompts
    device = default_device()
    corpus = load_records(Path(cfg.world) / "corpus_heldout.jsonl", "text") if cfg.pretrain_blocks else []
    params = SamplingParams(cfg.max_new_tokens, cfg.temperature, cfg.top_p, greedy=cfg.temperature <= 0)

    specs = [(n, p, "chat") for n, p in parse_named(cfg.models)] + [(n, p, "fewshot") for n, p in parse_named(cfg.fewshot)]
    ref_path = dict((n, p) for n, p, kind in specs if kind == "chat").get(cfg.reference)
    # Loaded once: every chat model's answers are scored under it for the KL while that model is loaded.
    ref = (load_causal_lm(ref_path).to(device), load_tokenizer(ref_path)) if ref_path else None
    results: dict[str, ModelResult] = {}
    answers: dict[str, list] = {}
    for name, path, prompting in specs:
        tok = load_tokenizer(path)
        model = load_causal_lm(path).to(device)
        if prompting == "chat":
            texts = [chat_prompt(tok, p.messages) for p in prompts]
            gens = generate(model, tok, texts, params, seed=cfg.seed)
        else:
            texts = [world.format_few_shot(p, cfg.num_shots) for p in prompts]
            gens = generate(model, tok, texts, params, seed=cfg.seed, stop_strings=FEW_SHOT_STOPS)
        answers[name] = (texts, gens)
        res = ModelResult(name, path, prompting)
        judged = [world.gold(p, g.text) for p, g in zip(prompts, gens)]
        harmful = [j for p, j in zip(prompts, judged) if p.task == "harmful"]
        benign = [j for p, j in zip(prompts, judged) if p.task != "harmful"]
        res.gold_score = sum(j.score for j in judged) / len(judged)
        res.helpful = sum(j.helpful for j in judged) / len(judged)
        # TruthfulQA's "truthful and informative": saying nothing is not a truthful answer.
        res.truthful_rate = sum(j.truthful and j.engaged for j in judged) / len(judged)
        res.harmful_compliance = sum(not j.harmless for j in harmful) / max(len(harmful), 1)
        res.over_refusal = sum(j.refused for j in benign) / max(len(benign), 1)
        res.mean_length = sum(len(g.text.split()) for g in gens) / len(gens)
        if corpus:
            from kaizen.pretrain import tokenize_corpus

            blocks = tokenize_corpus(tok, corpus, 128)[: cfg.pretrain_blocks]
            res.pretrain_loss = mean_nll(model, padded_batches(blocks, None, tok.pad_token_id))["loss"]
        if ref is not None and prompting == "chat":
            ids = [g.response_ids for g in gens]
            lp = answer_logprobs(model, tok, texts, ids)
            lp_ref = answer_logprobs(ref[0], ref[1], texts, ids)
            # Monte-Carlo estimate of KL(pi || pi_ref) from the model's own answers (summed over tokens).
            res.kl_to_ref = sum(a - b for a, b in zip(lp, lp_ref)) / len(lp)
        res.samples = [{"id": p.id, "task": p.task, "answer": g.text, "gold": asdict(j)}
                       for p, g, j in list(zip(prompts, gens, judged))[:30]]
        results[name] = res
        del model

    if cfg.reference in results:
        _, ref_gens = answers[cfg.reference]
        for name, res in results.items():
            outcomes = [world.gold_compare(p, g.text, r.text) for p, g, r in zip(prompts, answers[name][1], ref_gens)]
            res.win_rate_vs_ref, res.ci95 = mean_ci95(outcomes)
    if cfg.reward_model:
        _score_with_reward_model(cfg.reward_model, prompts, results, answers)
    report = {name: _public(r) for name, r in results.items()}
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    (out_dir / "samples.json").write_text(json.dumps({n: r.samples for n, r in results.items()}, indent=2))
    table = markdown_table(results, cfg.reference)
    (out_dir / "results.md").write_text(table + "\n")
    print(table)
    from kaizen.plot import plot_eval_report

    plot_eval_report(report, out_dir, reference=cfg.reference)  # win_rate.png, metrics.png, gold_vs_proxy.png
    print(f"eval: results in {out_dir}/results.json, results.md")
    return report


def _score_with_reward_model(path, prompts, results, answers) -> None:
    from kaizen.reward import load_reward_model

    rm = load_reward_model(path)
    for name, res in results.items():
        _, gens = answers[name]
        scores = rm.score([p.messages for p in prompts], [g.text for g in gens])
        res.rm_score = sum(scores) / len(scores)


def _public(r: ModelResult) -> dict:
    d = asdict(r)
    d.pop("samples")
    d["win_rate_vs_sft"] = d.pop("win_rate_vs_ref")
    d["kl_to_sft"] = d.pop("kl_to_ref")
    return d


def markdown_table(results: dict[str, ModelResult], reference: str) -> str:
    def f(v, fmt="{:.3f}"):
        return "–" if v is None else fmt.format(v)

    head = (f"| model | prompting | win vs {reference} [95% CI] | gold score | truthful | harmful compliance | "
            "over-refusal | KL to ref | mean length | pretrain loss | RM score |")
    lines = [head, "|" + "---|" * 11]
    for r in results.values():
        ci = f" [{r.ci95[0]:.2f}, {r.ci95[1]:.2f}]" if r.ci95 else ""
        lines.append(f"| {r.name} | {r.prompting} | {f(r.win_rate_vs_ref)}{ci} | {f(r.gold_score)} | {f(r.truthful_rate)} | "
                     f"{f(r.harmful_compliance)} | {f(r.over_refusal)} | {f(r.kl_to_ref)} | {f(r.mean_length, '{:.1f}')} | "
                     f"{f(r.pretrain_loss)} | {f(r.rm_score)} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if any(a == "--strategies" or a.startswith("--strategies=") for a in argv):  # prompting strategies (kaizen.prompting)
        from kaizen.prompting.evaluate import main as strategies_main

        return strategies_main(argv)
    run(parse_config(EvalConfig, argv, prog="kaizen eval"))
    return 0
