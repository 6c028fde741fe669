"""``kaizen eval --strategies``: each prompting strategy's accuracy, its cost, and the test-time scaling curve.

    kaizen eval --strategies zero_shot,cot,self_consistency@8,react,best_of_n@8 \
        --model runs/sft/model --reward_model runs/rm/model --world runs/world --out runs/eval-prompting

On held-out task families (the demo world's reasoning tasks, ``kaizen data reasoning-world``:
``arithmetic``, ``multihop``, ``lookup``; and ``chat``, the world's held-out prompts judged by the
gold judge), every strategy answers every prompt. Per strategy and family: accuracy with a 95%
Wilson interval, and the cost: generated tokens and seconds per prompt. For self-consistency and
best-of-N, accuracy as N grows (1, 2, 4, 8, 16): N_max samples are drawn once per prompt and
split into disjoint blocks of N; accuracy at N is the mean over blocks (an unbiased estimate
of one run with N samples, cheaper than separate runs). The ``@K`` entry of the table is the
first block of K, a single real run; its seconds are the sampling time's K / N_max share.
Writes ``OUT/results.json``, ``OUT/results.md``, ``OUT/scaling.png`` and ``OUT/samples.jsonl``.

A ``chat`` answer is correct when the gold judge finds it harmless, truthful, on task and at
least half helpful (``CHAT_PASS_HELPFUL``): best-of-N is for open-ended answers, where there is no
single right string to vote on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kaizen.config import arg, parse_config
from kaizen.prompting import best_of_n, cot, self_consistency
from kaizen.prompting.examples import ExamplePool
from kaizen.prompting.strategy import DEFAULT_TEMPERATURE, StrategySpec, Toolkit, run_strategy
from kaizen.prompting.types import Candidate, Sampler, StrategyResult, as_conversation

FAMILIES = ("arithmetic", "multihop", "lookup", "chat")
CHAT_PASS_HELPFUL = 0.5
Z95 = 1.959964


@dataclass(frozen=True)
class StrategyEvalConfig:
    """Measure prompting strategies: accuracy with 95% CI, cost, and the test-time scaling curve."""

    strategies: list[str] = arg(["zero_shot", "cot", "self_consistency@8", "react", "best_of_n@8"],
                                "Strategies as NAME or NAME@K (see kaizen.prompting.strategy), comma-separated or repeated.")
    model: str | None = arg(None, "Chat model directory (or hub id) that every strategy prompts.")
    reward_model: str | None = arg(None, "Reward model for best_of_n (a `kaizen rm` directory).")
    world: str | None = arg(None, "Demo world directory with reasoning tasks (`kaizen data reasoning-world`).")
    families: list[str] = arg(["arithmetic", "multihop", "lookup"], "Task families: arithmetic, multihop, lookup, chat. "
                                                                     "best_of_n also runs on chat when a reward model is given.")
    split: str = arg("heldout", "Prompt split: heldout | train.")
    num_prompts: int = arg(100, "Prompts per family (0: all).")
    scaling: list[int] = arg([1, 2, 4, 8, 16], "N of the scaling curve of self_consistency and best_of_n ([] to skip).")
    documents: list[str] = arg([], "Document store files for react's search (default: the world's corpus and price notices).")
    few_shot_pool: str | None = arg(None, "Example pool (SFT JSONL) for few_shot and few-shot cot (default: the world's "
                                          "sft_reasoning.jsonl, direct / cot rows).")
    max_tokens: int = arg(128, "Longest generated turn (a chain of thought, one ReAct step).")
    out: str = arg("runs/eval-prompting", "Output directory.")
    batch_size: int = arg(64, "Sequences generated together.")
    seed: int = arg(0, "Sampling seed.")


def wilson(successes: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (stays inside [0, 1], sound for small n)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Cell:
    """One strategy on one family."""

    strategy: str
    family: str
    correct: list[bool] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    samples: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        n = len(self.correct)
        acc = sum(self.correct) / n if n else 0.0
        return {"accuracy": round(acc, 4), "ci95": [round(x, 4) for x in wilson(sum(self.correct), n)], "n": n,
                "tokens": round(self.tokens / max(n, 1), 1), "seconds": round(self.seconds / max(n, 1), 4),
                "total_seconds": round(self.seconds, 2)}


@dataclass
class Task:
    """A family's prompts and how an answer to each is judged."""

    family: str
    conversations: list[list[dict]]
    judge: Callable[[int, StrategyResult | Candidate], bool]
    ids: list[str]


def reasoning_task(world: str | Path, family: str, split: str, num: int) -> Task:
    from kaizen.world.reasoning import ReasoningTasks

    tasks = ReasoningTasks(world)
    items = tasks.prompts(split, family)
    items = items[:num] if num else items
    return Task(family, [as_conversation(p.messages) for p in items],
                lambda i, r: tasks.check(items[i], r.answer if isinstance(r, StrategyResult) else r.text),
                [p.id for p in items])


def chat_task(world: str | Path, split: str, num: int) -> Task:
    from kaizen.world import DemoWorld

    w = DemoWorld.load(world)
    items = w.prompts(split)
    items = items[:num] if num else items

    def judge(i, r):
        g = w.gold(items[i], r.text)
        return bool(g.harmless and g.truthful and g.engaged and g.helpful >= CHAT_PASS_HELPFUL)

    return Task("chat", [as_conversation(p.messages) for p in items], judge, [p.id for p in items])


def evaluate_strategy(spec: StrategySpec, sampler: Sampler, task: Task, toolkit: Toolkit,
                      scaling: Sequence[int] = ()) -> tuple[Cell, dict[int, float]]:
    """Run ``spec`` on ``task``: its cell and, for sampling strategies, accuracy at each N of ``scaling``."""
    cell = Cell(spec.label, task.family)
    sampling = spec.strategy in ("self_consistency", "best_of_n")
    n_max = max([spec.n, *scaling]) if sampling else spec.n
    if not sampling:
        t0 = time.perf_counter()
        results = run_strategy(spec, sampler, task.conversations, toolkit)
        cell.seconds = time.perf_counter() - t0
        for i, r in enumerate(results):
            cell.correct.append(task.judge(i, r))
            cell.tokens += r.tokens
            if len(cell.samples) < 20:
                cell.samples.append({"id": task.ids[i], "correct": cell.correct[-1], **_brief(r)})
        return cell, {}
    # sampling strategies: N_max samples per prompt once; the table's @K is the first block of K
    prompts = (task.conversations if spec.strategy == "best_of_n" else
               [cot.build(c, toolkit.cot_pool if spec.shots else None, spec.shots or 0, spec.selection)
                for c in task.conversations])
    temperature = spec.temperature if spec.temperature is not None else DEFAULT_TEMPERATURE[spec.strategy]
    max_tokens = spec.max_tokens or 128
    t0 = time.perf_counter()
    outs = sampler.complete(prompts, n=n_max, temperature=temperature, max_tokens=max_tokens)
    cands = [[self_consistency.candidate(c) for c in samples] for samples in outs]
    if spec.strategy == "best_of_n":
        if toolkit.scorer is None:
            raise ValueError("best_of_n needs --reward_model")
        flat = [(i, c) for i, cs in enumerate(cands) for c in cs]
        scores = toolkit.scorer.score([task.conversations[i] for i, _ in flat], [c.text for _, c in flat])
        for (_, c), s in zip(flat, scores):
            c.score = s
    seconds = time.perf_counter() - t0

    def pick(block: list[Candidate]) -> Candidate:
        return best_of_n.rerank(block) if spec.strategy == "best_of_n" else self_consistency.vote(block)[0]

    def judged(i: int, c: Candidate) -> bool:
        if task.family == "chat":
            return task.judge(i, c)
        return task.judge(i, StrategyResult(spec.label, c.text, c.text if spec.strategy == "best_of_n" else c.answer))

    for i, cs in enumerate(cands):
        chosen = pick(cs[: spec.n])
        cell.correct.append(judged(i, chosen))
        cell.tokens += sum(c.tokens for c in cs[: spec.n])
        if len(cell.samples) < 20:
            cell.samples.append({"id": task.ids[i], "correct": cell.correct[-1], "text": chosen.text,
                                 "answer": chosen.answer, "score": chosen.score,
                                 "candidates": [c.answer or c.text[:60] for c in cs[: spec.n]]})
    cell.seconds = seconds * spec.n / n_max
    curve = {}
    for n in scaling:
        per_prompt = []
        for i, cs in enumerate(cands):
            blocks = [cs[j:j + n] for j in range(0, n_max - n + 1, n)]
            per_prompt.append(sum(judged(i, pick(b)) for b in blocks) / len(blocks))
        curve[n] = round(sum(per_prompt) / len(per_prompt), 4)
    return cell, curve


def _brief(r: StrategyResult) -> dict:
    return {"text": r.text, "answer": r.answer, "reasoning": r.reasoning, "tokens": r.tokens,
            "finish_reason": r.finish_reason}


def run_plan(plan: dict[str, Sequence[str]], sampler: Sampler, tasks: dict[str, Task], toolkit: Toolkit,
             scaling: Sequence[int], out_dir: Path, max_tokens: int | None = None,
             family_samplers: Mapping[str, Sampler] | None = None) -> dict:
    """Evaluate ``plan`` (strategy spec -> families) and write the report; returns it as a dict.

    ``family_samplers`` prompts another model on some families (the demo: a reasoning model on the
    reasoning tasks, the chat model its reward model was trained for on ``chat``)."""
    family_samplers = family_samplers or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[str, dict]] = {}
    curves: dict[str, dict[str, dict[int, float]]] = {}
    samples = []
    for text, families in plan.items():
        spec = StrategySpec.parse(text)
        if max_tokens and spec.max_tokens is None:
            spec = replace(spec, max_tokens=max_tokens)
        for family in families:
            cell, curve = evaluate_strategy(spec, family_samplers.get(family, sampler), tasks[family], toolkit, scaling)
            table.setdefault(spec.label, {})[family] = cell.summary()
            if curve:
                curves.setdefault(spec.strategy, {})[family] = curve
            samples += [{"strategy": spec.label, "family": family, **s} for s in cell.samples]
            s = cell.summary()
            print(f"  {spec.label:<22} {family:<10} accuracy {s['accuracy']:.3f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"
                  f"  {s['tokens']:.0f} tokens/prompt  {s['seconds']:.3f} s/prompt", flush=True)
    report = {"strategies": table, "scaling": {k: {f: {str(n): a for n, a in c.items()} for f, c in v.items()}
                                               for k, v in curves.items()}}
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    (out_dir / "results.md").write_text(markdown(report) + "\n")
    with (out_dir / "samples.jsonl").open("w") as f:
        for s in samples:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    if curves:
        plot_scaling(report, out_dir / "scaling.png")
    return report


def markdown(report: dict) -> str:
    families = sorted({f for cells in report["strategies"].values() for f in cells}, key=FAMILIES.index)
    lines = ["| strategy | " + " | ".join(f"{f}: accuracy [95% CI] | tokens | s" for f in families) + " |",
             "|---|" + "---|---|---|" * len(families)]
    for name, cells in report["strategies"].items():
        row = []
        for f in families:
            c = cells.get(f)
            row += ([f"{c['accuracy']:.3f} [{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}]", f"{c['tokens']:.0f}", f"{c['seconds']:.3f}"]
                    if c else ["–", "–", "–"])
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    for strategy, fams in report["scaling"].items():
        for f, curve in fams.items():
            lines.append("")
            lines.append(f"{strategy} on {f}, accuracy by N: " + ", ".join(f"N={n}: {a:.3f}" for n, a in curve.items()))
    return "\n".join(lines)


def plot_scaling(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for strategy, fams in report["scaling"].items():
        for f, curve in fams.items():
            ns = [int(n) for n in curve]
            ax.plot(ns, list(curve.values()), marker="o", label=f"{strategy} ({f})")
    for name, cells in report["strategies"].items():
        if name in ("zero_shot", "cot"):
            for f, c in cells.items():
                if any(f in fams for fams in report["scaling"].values()):
                    ax.axhline(c["accuracy"], linestyle=":", linewidth=1, color="grey")
                    ax.annotate(f"{name} ({f})", (1, c["accuracy"]), fontsize=7, color="grey", va="bottom")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("samples N (test-time compute)")
    ax.set_ylabel("accuracy")
    ax.set_title("Test-time scaling: accuracy as N grows")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def build_toolkit(world: str | None, documents: Sequence[str], pool: str | None, reward_model: str | None) -> Toolkit:
    from kaizen.prompting.tools import DocumentStore

    kit = Toolkit()
    docs = list(documents)
    if not docs and world:
        from kaizen.world.reasoning.build import STORE_FILES

        docs = [str(Path(world) / f) for f in STORE_FILES]
    if docs:
        kit.store = DocumentStore.from_files(docs)
    pool = pool or (str(Path(world) / "sft_reasoning.jsonl") if world else None)
    if pool and Path(pool).exists():
        kit.pool = ExamplePool.from_file(pool, formats=("direct",))
        kit.cot_pool = ExamplePool.from_file(pool, formats=("cot",))
    if reward_model:
        from kaizen.reward import load_reward_model

        kit.scorer = load_reward_model(reward_model)
    return kit


def load_tasks(world: str, families: Sequence[str], split: str, num: int) -> dict[str, Task]:
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"families: '{unknown[0]}' is not one of {', '.join(FAMILIES)}")
    return {f: chat_task(world, split, num) if f == "chat" else reasoning_task(world, f, split, num) for f in families}


def run(cfg: StrategyEvalConfig) -> dict:
    from kaizen.prompting.sampler import HFSampler
    from kaizen.training.rundir import prepare_run_dir

    if not cfg.model or not cfg.world:
        raise ValueError("kaizen eval --strategies needs --model (a chat model) and --world (a demo world with "
                         "reasoning tasks: kaizen data reasoning-world --world DIR)")
    strategies = [s for item in cfg.strategies for s in item.split(",") if s.strip()]
    specs = [StrategySpec.parse(s) for s in strategies]  # every name checked before any model is loaded
    out_dir = prepare_run_dir(cfg.out, cfg, "eval-prompting")
    families = list(cfg.families)
    if any(s.strategy == "best_of_n" for s in specs) and cfg.reward_model and "chat" not in families:
        families.append("chat")
    tasks = load_tasks(cfg.world, families, cfg.split, cfg.num_prompts)
    toolkit = build_toolkit(cfg.world, cfg.documents, cfg.few_shot_pool, cfg.reward_model)
    plan = {}
    for text, spec in zip(strategies, specs):
        if spec.strategy == "best_of_n" and toolkit.scorer is None:
            print(f"  {spec.label}: skipped (no --reward_model)")
            continue
        plan[text] = [f for f in families if f != "chat" or spec.strategy in ("zero_shot", "best_of_n")]
    sampler = HFSampler.load(cfg.model, batch_size=cfg.batch_size, seed=cfg.seed)
    print(f"eval --strategies: {', '.join(plan)} on {', '.join(f'{f} ({len(t.ids)})' for f, t in tasks.items())}")
    report = run_plan(plan, sampler, tasks, toolkit, cfg.scaling, out_dir, cfg.max_tokens)
    print(markdown(report))
    print(f"eval --strategies: results in {out_dir}/results.json, results.md, scaling.png")
    return report


def main(argv: list[str]) -> int:
    run(parse_config(StrategyEvalConfig, argv, prog="kaizen eval --strategies"))
    return 0
