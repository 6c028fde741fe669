"""The demo's ``prompting`` section: each strategy on the task family it is for, and the scaling curve.

    from kaizen.prompting.demo import demo_section
    results["prompting"] = demo_section(out / "prompting", out / "world", sft_model, rm_model, seed)

By default ``sft_model`` answers every family (it must have been trained on
``world/sft_reasoning.jsonl``). ``reasoning_model="train"`` (opt-in) trains a separate reasoning
model from the world under ``OUT/model`` (``kaizen.prompting.reasoning_model``: digit tokens, the
arithmetic corpus, SFT on the formats) and sends the reasoning families to it, or pass a model
directory; ``chat`` always goes to ``sft_model``, the model the reward model was trained to rank.
Measured on seed 0 the trained reasoning model does not pass the checks yet (docs/prompting.md),
so it is off by default. Writes ``OUT/results.json``, ``results.md``, ``scaling.png``,
``samples.jsonl``; returns the report with ``model`` (which model answered which family) and the
issue's checks (each: the better strategy's 95% CI lower end above the other's mean).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kaizen.prompting.reasoning_model import ReasoningModelConfig, train_reasoning_model

# Prompts per family: sized so the section fits ~4 minutes of a 2-core CPU in fp32.
SIZES = {"arithmetic": 100, "multihop": 80, "lookup": 80, "chat": 80}
PLAN = {"zero_shot": ("arithmetic", "multihop", "lookup", "chat"), "cot": ("arithmetic", "multihop"),
        "self_consistency@8": ("arithmetic",), "generated_knowledge": ("multihop",), "react": ("multihop", "lookup"),
        "best_of_n@8": ("chat",)}


def checks(report: dict) -> dict:
    s, curves = report["strategies"], report["scaling"]

    def beats(a: str, b: str, family: str, b_mean: float | None = None) -> dict | None:
        if family not in s.get(a, {}) or (b_mean is None and family not in s.get(b, {})):
            return None
        lo = s[a][family]["ci95"][0]
        other = s[b][family]["accuracy"] if b_mean is None else b_mean
        return {"passed": lo > other, "lower": lo, "other_mean": other}

    out = {"cot_beats_zero_shot_arithmetic": beats("cot", "zero_shot", "arithmetic"),
           "self_consistency8_beats_cot_arithmetic": beats("self_consistency@8", "cot", "arithmetic"),
           "react_beats_zero_shot_lookup": beats("react", "zero_shot", "lookup")}
    single = curves.get("best_of_n", {}).get("chat", {}).get("1")
    out["best_of_8_beats_one_sample_chat"] = beats("best_of_n@8", "", "chat", single) if single is not None else None
    for strategy, fams in curves.items():
        for family, curve in fams.items():
            values = list(curve.values())
            out[f"{strategy}_rises_with_n_{family}"] = {
                "passed": values[-1] > values[0] and all(b >= a - 0.02 for a, b in zip(values, values[1:])),
                "curve": curve}
    return out


def demo_section(out_dir, world_dir, sft_model, reward_model, seed: int = 0, sizes: dict | None = None,
                 scaling: tuple[int, ...] = (1, 2, 4, 8, 16), max_tokens: int = 96,
                 reasoning_model: str | Path | None = None, model_config: ReasoningModelConfig | None = None) -> dict:
    from kaizen.prompting.evaluate import build_toolkit, load_tasks, run_plan
    from kaizen.prompting.sampler import HFSampler
    from kaizen.world.reasoning import ReasoningConfig, build_reasoning

    t0 = time.perf_counter()
    world_dir, out_dir = Path(world_dir), Path(out_dir)
    if not (world_dir / "reasoning.json").exists():
        build_reasoning(ReasoningConfig(world=str(world_dir)))
    sizes = {**SIZES, **(sizes or {})}
    plan = {k: [f for f in fams if k != "best_of_n@8" or reward_model] for k, fams in PLAN.items()}
    plan = {k: v for k, v in plan.items() if v}
    families = sorted({f for fams in plan.values() for f in fams})
    tasks = {f: load_tasks(str(world_dir), [f], "heldout", sizes[f])[f] for f in families}
    toolkit = build_toolkit(str(world_dir), [], None, str(reward_model) if reward_model else None)
    model_info = {"chat": str(sft_model), "reasoning": str(sft_model)}
    if reasoning_model == "train":
        model_config = model_config or ReasoningModelConfig()
        reasoning_model = train_reasoning_model(model_config, world_dir, out_dir / "model", seed)
        model_info["trained"] = json.loads((out_dir / "model" / "reasoning_model.json").read_text())
    chat_sampler = HFSampler.load(str(sft_model), batch_size=64, seed=seed)
    sampler = chat_sampler
    if reasoning_model is not None:
        sampler = HFSampler.load(str(reasoning_model), batch_size=64, seed=seed)
        model_info["reasoning"] = str(reasoning_model)
    print(f"prompting: {', '.join(plan)} on " + ", ".join(f"{f} ({len(t.ids)})" for f, t in tasks.items())
          + f"; reasoning tasks asked of {model_info['reasoning']}, chat of {model_info['chat']}", flush=True)
    report = run_plan(plan, sampler, tasks, toolkit, scaling, out_dir, max_tokens, family_samplers={"chat": chat_sampler})
    report["model"] = model_info
    report["checks"] = checks(report)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    return report
