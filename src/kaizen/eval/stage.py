"""``kaizen eval``: compare any models on any prompts, with any mix of judges.

    kaizen eval --models ppo=runs/ppo/model sft=runs/sft/model --reference sft --prompts my_prompts.jsonl \
        --judges rm=runs/rm/model llm=http://127.0.0.1:8000/v1#judge --heldout_text my_corpus.jsonl
    kaizen eval --world runs/world --models sft=runs/sft/model ppo_ptx=runs/ppo-ptx/model \
        --fewshot base=runs/pretrain/model --reference sft --reward_model runs/rm/model   # the demo
    kaizen eval --rm runs/rm/model --rm_data heldout_rankings.jsonl                     # RM quality only

Models are ``NAME=PATH`` (a directory or hub id, prompted with its chat template), ``--fewshot
NAME=PATH`` (base models, prompted with "Q:/A:" examples as InstructGPT prompted GPT-3) or
``NAME=http://host:port/v1#model`` (any OpenAI-compatible endpoint). Every model answers every
prompt once per temperature (``--temperature`` and ``--extra_temperatures``, each model loaded
once for all of them); judges (``kaizen.eval.judges``) compare each model's answers with the
reference model's. Per model: win rate against the reference with a 95% CI and its
length-controlled twin (per judge; the first judge's go in the flat keys), mean length, KL to
the reference on the model's own answers (local models with the reference's vocabulary), the
held-out LM loss on ``--heldout_text`` (the alignment tax), optionally lm-evaluation-harness
benchmarks. With ``--world`` the gold judge is first and adds truthful rate, harmful compliance
and over-refusal. Keys for an extra temperature end in ``_t<T>`` (``win_rate_vs_sft_t1``).

Writes ``OUT/results.json`` (one entry per model), ``OUT/results.md``, ``OUT/samples.json``
(every answer, so every number can be recomputed), ``OUT/*.png``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kaizen.config import ConfigError, arg, parse_config
from kaizen.eval import metrics as M
from kaizen.eval.models import Answer, FewShot, LocalModel, ModelSpec, open_model, parse_model_spec
from kaizen.eval.prompts import EvalPrompt
from kaizen.generation import SamplingParams
from kaizen.training.rundir import prepare_run_dir


@dataclass(frozen=True)
class EvalConfig:
    """Compare models on prompts: win rates with CIs by any judges, length, KL, held-out loss."""

    models: list[str] = arg([], "Chat models as NAME=PATH (dir or hub id) or NAME=http://host:port/v1#model.")
    fewshot: list[str] = arg([], "Base models as NAME=PATH, prompted few-shot.")
    reference: str | None = arg(None, "Model NAME that win rates and KL are measured against (default: the first).")
    prompts: str | None = arg(None, "Prompt file, any prompt-bearing format (default with --world: its prompts).")
    world: str | None = arg(None, "Demo world directory: only the gold judge needs it (and gives prompts, "
                                  "few-shot examples and held-out text by default).")
    judges: list[str] = arg([], "Judges, first is primary: gold, rm=PATH, llm=URL#model, human=URL "
                                "(default: gold with --world).")
    reward_model: str | None = arg(None, "Reward model: adds the judge rm=PATH (its mean score per model).")
    out: str = arg("runs/eval", "Output directory.")
    split: str = arg("heldout", "Prompt split of the world: heldout | train.")
    num_prompts: int = arg(200, "Prompts evaluated, the first of the file (0: all).")
    max_new_tokens: int = arg(64, "Longest sampled answer.")
    temperature: float = arg(0.0, "Sampling temperature (0: greedy, the default for comparisons).")
    extra_temperatures: list[float] = arg([], "More temperatures answered by the same loaded models; keys get "
                                              "a _t<T> suffix (e.g. 1 -> win_rate_vs_sft_t1).")
    top_p: float = arg(1.0, "Nucleus sampling mass.")
    num_shots: int = arg(3, "Examples in the few-shot prompt of base models.")
    fewshot_examples: str | None = arg(None, "Demonstrations for the few-shot prompt (default: the world's).")
    heldout_text: str | None = arg(None, "Text file for the held-out LM loss (default with --world: its "
                                         "held-out corpus).")
    pretrain_blocks: int = arg(32, "Held-out text blocks of 128 tokens for the LM loss (0: skip).")
    benchmarks: list[str] = arg([], "lm-evaluation-harness tasks per local model (needs kaizen-rlhf[benchmarks]).")
    benchmark_tasks_dir: str | None = arg(None, "Folder of your own lm-eval task YAMLs.")
    benchmark_limit: int | None = arg(None, "Documents per benchmark task (none: all).")
    rm: str | None = arg(None, "Reward model for a quality report on --rm_data: accuracy, calibration, "
                               "length bias, agreement per labeler.")
    rm_data: str | None = arg(None, "Held-out rankings for the --rm report.")
    api_key: str | None = arg(None, "Key for endpoints, the llm judge and the human judge's server "
                                    "(default: $KAIZEN_API_KEY or $OPENAI_API_KEY).")
    llm_mode: Literal["verdict", "logprobs"] = arg("verdict", "llm judge: read [[A]]/[[B]]/[[C]] from its text, "
                                                              "or the letters' probabilities.")
    llm_max_tokens: int = arg(512, "Longest explanation + verdict of the llm judge.")
    human_replication: int = arg(1, "Labelers per comparison task of the human judge.")
    collect: str | None = arg(None, "An earlier eval's OUT with human tasks: read the labelers' choices, "
                                    "report their win rates, load no model.")
    precision: str = arg("fp32", "fp32 | bf16 | fp16 | auto for local models.")
    seed: int = arg(0, "Sampling seed.")


@dataclass
class ModelResult:
    """One model's figures; per-temperature figures are keyed by suffix ('' for the main temperature)."""

    name: str
    path: str
    prompting: str
    values: dict = field(default_factory=dict)  # flat keys, in the order results.json shows them
    judges: dict = field(default_factory=dict)  # suffix -> judge -> {"win_rate", "ci95", ...}
    benchmarks: dict | None = None

    def to_dict(self) -> dict:
        out = {"name": self.name, "path": self.path, "prompting": self.prompting, **self.values}
        for suffix, per_judge in self.judges.items():
            out["judges" + suffix] = per_judge
        if self.benchmarks is not None:
            out["benchmarks"] = self.benchmarks
        return out


def suffix_of(temperature: float, main: float) -> str:
    return "" if temperature == main else f"_t{temperature:g}"


def model_specs(cfg: EvalConfig) -> list[ModelSpec]:
    specs = [parse_model_spec(s) for s in cfg.models] + [parse_model_spec(s, "fewshot") for s in cfg.fewshot]
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"config key 'models': model names {dup} are given twice")
    return specs


def evaluate_models(specs: list[ModelSpec], prompts: list[EvalPrompt], judges: list, reference: str,
                    temperatures: list[float], max_new_tokens: int = 64, top_p: float = 1.0, seed: int = 0,
                    fewshot: FewShot | None = None, heldout_texts: list[str] | None = None, heldout_blocks: int = 32,
                    benchmarks: dict | None = None, api_key: str | None = None, precision: str = "fp32",
                    log=print) -> tuple[dict[str, ModelResult], dict[str, dict[str, list[Answer]]]]:
    """Answer, judge and measure every model; the reusable core of ``kaizen eval`` (the loop's gate uses it).

    Returns (results by model name, answers[name][suffix]). ``benchmarks``: ``{"tasks", "tasks_dir", "limit"}``.
    """
    by_name = {s.name: s for s in specs}
    if reference not in by_name:
        raise ConfigError(f"config key 'reference': '{reference}' is none of the models {list(by_name)}")
    main = temperatures[0]
    params = {suffix_of(t, main): SamplingParams(max_new_tokens, t, top_p, greedy=t <= 0) for t in temperatures}
    ref_spec = by_name[reference]
    # Loaded once: every chat model's answers are scored under it for the KL while that model is loaded.
    ref = open_model(ref_spec, precision=precision, fewshot=fewshot) if ref_spec.prompting == "chat" else None
    results: dict[str, ModelResult] = {}
    answers: dict[str, dict[str, list[Answer]]] = {}
    for spec in specs:
        model = ref if spec is ref_spec and ref is not None else open_model(spec, precision=precision, fewshot=fewshot,
                                                                            api_key=api_key)
        res = ModelResult(spec.name, spec.source, spec.prompting)
        answers[spec.name] = {}
        for suffix, p in params.items():
            got = model.answer(prompts, p, seed=seed)
            answers[spec.name][suffix] = got
            res.values[f"mean_length{suffix}"] = M.mean_length([a.text for a in got])
            if (isinstance(model, LocalModel) and isinstance(ref, LocalModel) and spec.prompting == "chat"
                    and (model is ref or model.same_vocabulary(ref))):
                texts, ids = [a.prompt_text for a in got], [a.response_ids for a in got]
                lp = model.answer_logprobs(texts, ids)
                lp_ref = lp if model is ref else ref.answer_logprobs(texts, ids)
                res.values[f"kl_to_{reference}{suffix}"] = M.kl_estimate(lp, lp_ref)
            else:
                res.values[f"kl_to_{reference}{suffix}"] = None
        res.values["pretrain_loss"] = (model.heldout_loss(heldout_texts, 128, heldout_blocks)
                                       if heldout_texts and isinstance(model, LocalModel) else None)
        if benchmarks and benchmarks.get("tasks") and isinstance(model, LocalModel):
            from kaizen.eval.benchmarks import run_benchmarks

            res.benchmarks = run_benchmarks(model.model, model.tokenizer, benchmarks["tasks"],
                                            benchmarks.get("tasks_dir"), benchmarks.get("limit"))
        results[spec.name] = res
        if model is not ref:
            model.close()
        log(f"eval: {spec.name} answered {len(prompts)} prompts at temperature(s) {temperatures}")
    if ref is not None:
        ref.close()
    _judge(results, answers, prompts, judges, reference, list(params))
    return results, answers


def _judge(results, answers, prompts, judges, reference: str, suffixes: list[str]) -> None:
    for suffix in suffixes:
        ref_texts = [a.text for a in answers[reference][suffix]]
        lens_ref = [M.word_count(t) for t in ref_texts]
        for name, res in results.items():
            texts = [a.text for a in answers[name][suffix]]
            per_judge = {}
            for j in judges:
                for k, v in j.metrics(prompts, texts).items():
                    res.values[f"{k}{suffix}"] = v
                if name == reference:  # a model ties with itself: no judge needs to be asked
                    per_judge[j.name] = {"win_rate": 0.5, "ci95": (0.5, 0.5), "lc_win_rate": 0.5, "lc_ci95": (0.5, 0.5)}
                    continue
                comp = j.compare(prompts, texts, ref_texts, a_name=name, b_name=reference, tag=suffix)
                row = {"win_rate": None, "ci95": None, "lc_win_rate": None, "lc_ci95": None, **comp.details}
                if comp.outcomes:
                    row["win_rate"], row["ci95"] = M.mean_ci95(comp.outcomes)
                    row["lc_win_rate"], row["lc_ci95"] = M.length_controlled_ci95(
                        comp.outcomes, [M.word_count(t) for t in texts], lens_ref)
                row["pending"] = comp.pending
                per_judge[j.name] = row
            res.judges[suffix] = per_judge
            if judges:  # the primary judge's figures in the flat keys the demo and the gate read
                first = per_judge[judges[0].name]
                res.values[f"win_rate_vs_{reference}{suffix}"] = first["win_rate"]
                res.values[f"ci95{suffix}"] = first["ci95"]
                res.values[f"lc_win_rate_vs_{reference}{suffix}"] = first["lc_win_rate"]


def build_judges(cfg: EvalConfig, world, out_dir: Path) -> list:
    from kaizen.eval.http import default_api_key
    from kaizen.eval.judges import parse_judge

    specs = list(cfg.judges) or (["gold"] if world is not None else [])
    if cfg.reward_model and not any(s.startswith("rm=") for s in specs):
        specs.append(f"rm={cfg.reward_model}")
    if not specs:
        raise ConfigError("config key 'judges': no judge; give --judges (rm=PATH, llm=URL#model, human=URL) or "
                          "--world for the demo's gold judge")
    key = cfg.api_key or default_api_key()
    judges = [parse_judge(s, world=world, api_key=key, out_dir=out_dir, seed=cfg.seed, llm_mode=cfg.llm_mode,
                          llm_max_tokens=cfg.llm_max_tokens, human_replication=cfg.human_replication,
                          precision=cfg.precision) for s in specs]
    names = [j.name for j in judges]
    if len(set(names)) < len(names):
        raise ConfigError(f"config key 'judges': one judge of each kind at most, got {specs}")
    return judges


def _prompts(cfg: EvalConfig, world) -> list[EvalPrompt]:
    from kaizen.eval.prompts import attach_world, load_prompts, world_prompts

    if cfg.prompts:
        prompts = load_prompts(cfg.prompts, cfg.num_prompts)
        uses_gold = world is not None and (not cfg.judges or "gold" in cfg.judges)
        return attach_world(prompts, world, cfg.prompts) if uses_gold else prompts
    if world is None:
        raise ConfigError("config key 'prompts': give a prompt file (any format with a prompt), or --world")
    return world_prompts(world, cfg.split, cfg.num_prompts)


def run(cfg: EvalConfig) -> dict:
    from kaizen.data.formats import load_records
    from kaizen.eval.http import default_api_key

    if cfg.collect:
        return _collect(cfg)
    if not cfg.models and not cfg.fewshot and not cfg.rm:
        raise ConfigError("config key 'models': give models to evaluate as NAME=PATH (or --rm for a reward-model report)")
    out_dir = prepare_run_dir(cfg.out, cfg, "eval")
    report: dict = {}
    if cfg.rm:
        report["reward_model"] = rm_report(cfg.rm, cfg.rm_data, out_dir, cfg.precision)
    if not cfg.models and not cfg.fewshot:
        (out_dir / "results.json").write_text(json.dumps(report, indent=2))
        return report
    world = None
    if cfg.world:
        from kaizen.world import DemoWorld

        world = DemoWorld.load(cfg.world)
    specs = model_specs(cfg)
    reference = cfg.reference or specs[0].name
    prompts = _prompts(cfg, world)
    judges = build_judges(cfg, world, out_dir)
    fewshot = None
    if cfg.fewshot:
        fewshot = (FewShot.from_demonstrations(cfg.fewshot_examples, cfg.num_shots) if cfg.fewshot_examples
                   else FewShot(tuple(world.few_shot_examples(cfg.num_shots))) if world is not None else None)
        if fewshot is None:
            raise ConfigError("config key 'fewshot_examples': few-shot models need example demonstrations (or --world)")
    heldout = cfg.heldout_text or (str(Path(cfg.world) / "corpus_heldout.jsonl") if cfg.world else None)
    texts = load_records(heldout, "text") if heldout and cfg.pretrain_blocks else None
    temps = [cfg.temperature] + [t for t in cfg.extra_temperatures if t != cfg.temperature]
    results, answers = evaluate_models(
        specs, prompts, judges, reference, temps, cfg.max_new_tokens, cfg.top_p, cfg.seed, fewshot, texts,
        cfg.pretrain_blocks, {"tasks": cfg.benchmarks, "tasks_dir": cfg.benchmark_tasks_dir,
                              "limit": cfg.benchmark_limit}, cfg.api_key or default_api_key(), cfg.precision)
    report.update({name: r.to_dict() for name, r in results.items()})
    write_outputs(out_dir, report, results, answers, prompts, reference, [j.name for j in judges])
    return report


def write_outputs(out_dir: Path, report: dict, results: dict[str, ModelResult], answers, prompts, reference: str,
                  judge_names: list[str]) -> None:
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    samples = {name: {("answers" + suffix): [{"id": p.id, "task": p.task, "answer": a.text, "ended": a.ended}
                                             for p, a in zip(prompts, got)]
                      for suffix, got in per.items()} for name, per in answers.items()}
    (out_dir / "samples.json").write_text(json.dumps(samples, indent=2))
    table = markdown_table(results, reference, judge_names)
    (out_dir / "results.md").write_text(table + "\n")
    print(table)
    plot_outputs(report, out_dir, reference)
    print(f"eval: results in {out_dir}/results.json, results.md; every answer in samples.json")


def plot_outputs(report: dict, out_dir: Path, reference: str) -> None:
    from kaizen.plot import plot_gold_vs_proxy

    models = {n: r for n, r in report.items() if isinstance(r, dict) and "prompting" in r}
    if all("gold_score" in r for r in models.values()):
        plot_gold_vs_proxy(models, out_dir / "gold_vs_proxy.png")
    try:  # the bar chart with CI whiskers (kaizen.plot.bar_chart) where that version of kaizen.plot has it
        from kaizen.plot import bar_chart
    except ImportError:
        return
    key = f"win_rate_vs_{reference}"
    values = {n: r.get(key) for n, r in models.items() if n != reference}
    if values and any(v is not None for v in values.values()):
        bar_chart(values, out_dir / "win_rates.png", ci={n: models[n].get("ci95") for n in values},
                  title=f"Win rate against {reference} (95% CI)", ylabel="win rate", reference=0.5,
                  reference_label=f"tie with {reference}", ylim=(0.0, 1.0))


def markdown_table(results: dict[str, ModelResult], reference: str, judge_names: list[str]) -> str:
    def f(v, fmt="{:.3f}"):
        return "–" if v is None else fmt.format(v)

    gold = all("gold_score" in r.values for r in results.values())
    rm = all("rm_score" in r.values for r in results.values())
    head = ["model", "prompting"] + [f"{j} win vs {reference} [95% CI]" for j in judge_names] + [f"LC win ({judge_names[0]})"]
    if gold:
        head += ["gold score", "truthful", "harmful compliance", "over-refusal"]
    head += ["KL to ref", "mean length", "held-out loss"] + (["RM score"] if rm else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results.values():
        row = [r.name, r.prompting]
        for j in judge_names:
            d = r.judges.get("", {}).get(j, {})
            ci = f" [{d['ci95'][0]:.2f}, {d['ci95'][1]:.2f}]" if d.get("ci95") else ""
            row.append("pending" if d.get("pending") else f"{f(d.get('win_rate'))}{ci}")
        row.append(f(r.judges.get("", {}).get(judge_names[0], {}).get("lc_win_rate")))
        v = r.values
        if gold:
            row += [f(v["gold_score"]), f(v["truthful_rate"]), f(v["harmful_compliance"]), f(v["over_refusal"])]
        row += [f(v.get(f"kl_to_{reference}")), f(v["mean_length"], "{:.1f}"), f(v.get("pretrain_loss"))]
        if rm:
            row.append(f(v["rm_score"]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def rm_report(path: str, data: str | None, out_dir: Path, precision: str = "fp32") -> dict:
    """``kaizen eval --rm PATH --rm_data FILE``: the reward-model quality report on held-out rankings."""
    from kaizen.data.formats import load_records
    from kaizen.eval.rm_quality import markdown, rm_quality, score_rankings, write_rm_report
    from kaizen.reward import load_reward_model

    if not data:
        raise ConfigError("config key 'rm_data': the --rm report needs held-out rankings (any ranking or preference file)")
    rankings = load_records(data, "ranking")
    report = rm_quality(rankings, score_rankings(load_reward_model(path, precision=precision), rankings))
    write_rm_report(report, out_dir)
    print(markdown(report))
    return report


def _collect(cfg: EvalConfig) -> dict:
    from kaizen.eval.http import default_api_key
    from kaizen.eval.judges.human import collect

    human = collect(cfg.collect, cfg.api_key or default_api_key())
    path = Path(cfg.collect) / "results.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    for row in human.values():
        model = report.get(row["a"])
        if isinstance(model, dict):
            model.setdefault("judges" + row["tag"], {})["human"] = {**row, "pending": row["answered"] < row["asked"]}
    path.write_text(json.dumps(report, indent=2))
    for key, row in human.items():
        wr = "no choices yet" if row["win_rate"] is None else \
            f"{row['win_rate']:.3f} [{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}]"
        print(f"human: {key}: {wr} ({row['answered']}/{row['asked']} comparisons answered, {row['choices']} choices)")
    return report


def main(argv: list[str]) -> int:
    if any(a == "--strategies" or a.startswith("--strategies=") for a in argv):  # prompting strategies (kaizen.prompting)
        from kaizen.prompting.evaluate import main as strategies_main

        return strategies_main(argv)
    run(parse_config(EvalConfig, argv, prog="kaizen eval"))
    return 0
