"""The alignment tax on public NLP benchmarks, through EleutherAI's lm-evaluation-harness.

    pip install 'kaizen-rlhf[benchmarks]'
    kaizen eval --models sft=runs/sft/model ppo_ptx=runs/ppo-ptx/model --benchmarks hellaswag,arc_easy
    kaizen eval ... --benchmarks my_task --benchmark_tasks_dir my_tasks/   # your own task YAMLs

InstructGPT's PPO lost accuracy on public NLP benchmarks and PPO-ptx won it back (Ouyang et al.
2022, §4.2). The harness (lm-eval, the standard one; chosen over re-implementing each task's
prompt and metric) scores the model already loaded for the evaluation, so no model is loaded
twice. Hub tasks (hellaswag, arc_easy, ...) download their data the first time; a task YAML in
``--benchmark_tasks_dir`` can read local files (``dataset_path: json`` + ``data_files``).
"""

from __future__ import annotations

from collections.abc import Sequence


def require_harness():
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise ImportError("--benchmarks needs EleutherAI's lm-evaluation-harness: "
                          "pip install 'kaizen-rlhf[benchmarks]' (or pip install lm-eval)") from None


def run_benchmarks(model, tokenizer, tasks: Sequence[str], tasks_dir: str | None = None, limit: int | None = None,
                   batch_size: int = 8, num_fewshot: int | None = None) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` (``acc``, ``acc_norm``, their ``_stderr`` ...) for a loaded causal LM."""
    require_harness()
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    was_training = model.training
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    # Indexing the harness's thousands of built-in task files takes most of a small run: skip it
    # when every task asked for is one of the caller's own.
    own = _own_tasks(tasks_dir) if tasks_dir else set()
    manager = TaskManager(include_path=tasks_dir, include_defaults=not set(tasks) <= own) if tasks_dir else TaskManager()
    out = simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, limit=limit, num_fewshot=num_fewshot,
                          log_samples=False, bootstrap_iters=0)
    model.train(was_training)
    results = {}
    for task, metrics in (out or {}).get("results", {}).items():
        # The harness names metrics "acc,none" (metric, filter); keep the metric name for the default filter.
        results[task] = {k.split(",")[0]: float(v) for k, v in metrics.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith(",none")}
    return results


def _own_tasks(tasks_dir: str) -> set[str]:
    """Task names declared (``task: NAME``) by the YAML files under ``tasks_dir``."""
    from pathlib import Path

    import yaml

    names = set()
    for path in Path(tasks_dir).rglob("*.yaml"):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue  # harness YAMLs may use !function tags: such a file is simply not counted as ours
        if isinstance(data, dict) and isinstance(data.get("task"), str):
            names.add(data["task"])
    return names
