"""lm-evaluation-harness offline on a task this test writes, and the demo world's path of `kaizen eval`."""

from __future__ import annotations

import json

import pytest

from kaizen.eval import EvalConfig, run
from kaizen.eval.models import FewShot


def test_benchmark_on_a_local_custom_task(tiny_model_factory, tmp_path, monkeypatch):
    pytest.importorskip("lm_eval", reason="pip install 'kaizen-rlhf[benchmarks]'")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # nothing may come from a hub
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    rows = [{"question": f"the capital of zorland is number {i}", "choices": ["mirepa", "soup", "fox"], "answer": 0}
            for i in range(5)]
    (tasks / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tasks / "tiny.yaml").write_text(f"""task: kaizen_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {tasks / 'data.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
""")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "what is the river of veloria ?"}\n')
    model = tiny_model_factory("llama")
    report = run(EvalConfig(models=[f"m={model}"], prompts=str(prompts), judges=[f"rm={model}"], max_new_tokens=4,
                            pretrain_blocks=0, benchmarks=["kaizen_tiny_mc"], benchmark_tasks_dir=str(tasks),
                            out=str(tmp_path / "eval")))
    acc = report["m"]["benchmarks"]["kaizen_tiny_mc"]["acc"]
    assert acc in {i / 5 for i in range(6)}  # a share of the 5 documents


def test_world_eval_two_temperatures_and_fewshot_prompt(small_world, tiny_model_factory, tmp_path):
    from kaizen.world import DemoWorld

    world = DemoWorld.load(small_world)
    p = world.prompts("heldout")[0]
    assert FewShot(tuple(world.few_shot_examples(2))).format(p.messages) == world.format_few_shot(p, 2)
    llama = tiny_model_factory("llama")
    report = run(EvalConfig(world=str(small_world), models=[f"sft={llama}", f"ppo={tiny_model_factory('gpt2')}"],
                            fewshot=[f"pretrained={llama}"], reference="sft", extra_temperatures=[1.0],
                            num_prompts=6, max_new_tokens=6, pretrain_blocks=0, out=str(tmp_path / "eval")))
    for name in ("ppo", "pretrained"):
        for key in ("win_rate_vs_sft", "ci95", "win_rate_vs_sft_t1", "ci95_t1", "truthful_rate_t1",
                    "harmful_compliance_t1", "mean_length_t1", "gold_score"):
            assert key in report[name], (name, key)
    assert report["ppo"]["kl_to_sft_t1"] is not None and report["pretrained"]["kl_to_sft_t1"] is None
    samples = json.loads((tmp_path / "eval" / "samples.json").read_text())
    assert len(samples["ppo"]["answers_t1"]) == 6
