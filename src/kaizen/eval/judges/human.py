"""People as the judge: side-by-side comparison tasks in `kaizen serve`'s labeling UI.

    kaizen eval --models a=runs/ppo/model b=runs/sft/model --reference b --prompts p.jsonl \
        --judges human=http://127.0.0.1:8000 --api_key $ADMIN_KEY --out runs/eval-people
    # labelers open http://127.0.0.1:8000/label.html: "which answer is better, or are they equal?"
    kaizen eval --collect runs/eval-people --api_key $ADMIN_KEY     # win rates once the choices are in

InstructGPT's headline metric was exactly this: how often labelers prefer a model's output to
the baseline's. ``compare`` creates one "compare" task per prompt, showing the two answers in a
random order (seeded) so the side a model is shown on tells labelers nothing, and records the
order in ``OUT/human_tasks.json``; ``collect`` reads the labelers' choices back, undoes the order,
averages the labelers of a prompt, and reports the win rate with its 95% CI over the prompts
answered so far. Two identical answers are a tie without asking anyone.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from kaizen.eval.http import JsonAPI
from kaizen.eval.judges import Comparison
from kaizen.eval.metrics import mean_ci95
from kaizen.eval.prompts import EvalPrompt

TASKS_FILE = "human_tasks.json"
# A labeler's choice between the answers as shown -> the outcome of the one shown first.
CHOICE_OUTCOME = {"A": 1.0, "B": 0.0, "tie": 0.5}


class HumanJudge:
    name = "human"

    def __init__(self, server: str, api_key: str | None, out_dir: str | Path | None, replication: int = 1,
                 seed: int = 0):
        if out_dir is None:
            raise ValueError("judge 'human' needs an output directory for its task list")
        self.api = JsonAPI(server.rstrip("/"), api_key)
        self.server, self.out_dir, self.replication, self.seed = server.rstrip("/"), Path(out_dir), replication, seed

    def compare(self, prompts: Sequence[EvalPrompt], a: Sequence[str], b: Sequence[str], *, a_name: str = "a",
                b_name: str = "b", tag: str = "") -> Comparison:
        rng = random.Random(f"{self.seed}:human:{a_name}:{b_name}:{tag}")
        rows, entries = [], []
        for p, x, y in zip(prompts, a, b, strict=True):
            if x.strip() == y.strip():
                entries.append({"prompt_id": p.id, "task_id": None, "swapped": False, "tie": True})
                continue
            swapped = rng.random() < 0.5
            rows.append({"messages": [m.to_dict() for m in p.messages], "answers": [y, x] if swapped else [x, y]})
            entries.append({"prompt_id": p.id, "task_id": None, "swapped": swapped})
        ids = self.api.post("/api/admin/tasks", {"kind": "compare", "replication": self.replication,
                                                 "rows": rows})["task_ids"] if rows else []
        it = iter(ids)
        for e in entries:
            if not e.get("tie"):
                e["task_id"] = next(it)
        self._record({"a": a_name, "b": b_name, "tag": tag, "tasks": entries})
        return Comparison([], {"server": self.server, "tasks": len(ids), "tasks_file": str(self.out_dir / TASKS_FILE)},
                          pending=True)

    def _record(self, comparison: dict) -> None:
        path = self.out_dir / TASKS_FILE
        data = json.loads(path.read_text()) if path.exists() else {"server": self.server, "comparisons": []}
        data["comparisons"] = [c for c in data["comparisons"]
                               if (c["a"], c["b"], c["tag"]) != (comparison["a"], comparison["b"], comparison["tag"])]
        data["comparisons"].append(comparison)
        path.write_text(json.dumps(data, indent=2))

    def score(self, prompts, answers):
        return None

    def metrics(self, prompts, answers) -> dict[str, float]:
        return {}


def prompt_outcome(choices: Sequence[str], swapped: bool) -> float:
    """The first-named model's outcome on one prompt: its labelers' choices averaged, the display order undone."""
    shown_first = sum(CHOICE_OUTCOME[c] for c in choices) / len(choices)
    return 1.0 - shown_first if swapped else shown_first


def collect(out_dir: str | Path, api_key: str | None) -> dict:
    """Read the labelers' choices for every comparison in ``OUT/human_tasks.json``; return the win rates.

    Returns ``{"<a>_vs_<b><tag>": {"win_rate", "ci95", "answered", "prompts", "choices"}}`` and
    writes it to ``OUT/human_results.json``.
    """
    out_dir = Path(out_dir)
    path = out_dir / TASKS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no human comparison tasks here (run kaizen eval --judges human=URL first)")
    data = json.loads(path.read_text())
    api = JsonAPI(data["server"], api_key)
    report = {}
    for comp in data["comparisons"]:
        outcomes, choices_seen = [], 0
        for e in comp["tasks"]:
            if e.get("tie"):
                outcomes.append(0.5)
                continue
            subs = api.get(f"/api/admin/tasks/{e['task_id']}")["task"]["submissions"]
            choices = [s["result"]["choice"] for s in subs if (s.get("result") or {}).get("choice") in CHOICE_OUTCOME]
            if choices:
                choices_seen += len(choices)
                outcomes.append(prompt_outcome(choices, e["swapped"]))
        asked = sum(not e.get("tie") for e in comp["tasks"])
        answered = len(outcomes) - (len(comp["tasks"]) - asked)
        row = {"a": comp["a"], "b": comp["b"], "tag": comp["tag"], "prompts": len(comp["tasks"]), "asked": asked,
               "answered": answered, "choices": choices_seen, "win_rate": None, "ci95": None}
        if answered:  # ties without asking count only once some real choice is in
            row["win_rate"], row["ci95"] = mean_ci95(outcomes)
        report[f"{comp['a']}_vs_{comp['b']}{comp['tag']}"] = row
    (out_dir / "human_results.json").write_text(json.dumps(report, indent=2))
    return report
