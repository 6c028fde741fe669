"""`kaizen eval` on models and prompts that have nothing to do with the demo world, judged by a reward
model and by an LLM behind a running `kaizen serve`; comparison tasks for people, read back."""

from __future__ import annotations

import json
import shutil

import httpx
import torch

from kaizen.data.jsonl import write_jsonl
from kaizen.eval import EvalConfig, run
from kaizen.eval.judges.human import HumanJudge
from kaizen.eval.prompts import load_prompts

PROMPTS = ["write a short poem about the sea", "what is two plus two", "hello world how are you today",
           "kaizen means continuous improvement", "the quick brown fox", "say something kind"]


def _second_model(model_dir, out):
    """The tiny model with perturbed weights: another model with the same tokenizer."""
    from transformers import AutoModelForCausalLM

    shutil.copytree(model_dir, out)
    m = AutoModelForCausalLM.from_pretrained(out)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    m.save_pretrained(out)
    return out


def _long_context_copy(model_dir, out):
    """The tiny Llama allowing 2048 positions (RoPE: no weight depends on it), long enough for a judging prompt."""
    shutil.copytree(model_dir, out)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "max_position_embeddings": 2048}))
    return out


def test_eval_any_model_with_rm_and_llm_judges(start_server, model_dir, tmp_path):
    from tests.serve.conftest import Server

    judge_model = _long_context_copy(model_dir, tmp_path / "judge")
    server = Server(judge_model, f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.log", "--rate_limit_per_minute", "0")
    try:
        _eval_against(server, model_dir, tmp_path)
    finally:
        server.stop()


def _eval_against(server, model_dir, tmp_path):
    other = _second_model(model_dir, tmp_path / "other")
    prompts = tmp_path / "prompts.jsonl"
    write_jsonl(prompts, [{"prompt": p} for p in PROMPTS])
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(corpus, [{"text": " ".join(PROMPTS * 6)}])
    served = httpx.get(server.url + "/v1/models", headers=server.headers).json()["data"][0]["id"]
    report = run(EvalConfig(
        models=[f"base={model_dir}", f"other={other}", f"endpoint={server.url}/v1#{served}"], reference="base",
        prompts=str(prompts), judges=[f"rm={model_dir}", f"llm={server.url}/v1#{served}"], api_key=server.key,
        heldout_text=str(corpus), pretrain_blocks=2, max_new_tokens=8, llm_max_tokens=12, out=str(tmp_path / "eval")))
    for name in ("other", "endpoint"):
        row = report[name]
        for judge in ("rm", "llm"):
            j = row["judges"][judge]
            assert 0.0 <= j["win_rate"] <= 1.0 and j["ci95"][0] <= j["win_rate"] <= j["ci95"][1], (name, judge)
            assert 0.0 <= j["lc_win_rate"] <= 1.0
        assert row["win_rate_vs_base"] == row["judges"]["rm"]["win_rate"]  # the first judge is primary
        assert row["judges"]["llm"]["verdicts"] == 2 * len(PROMPTS) and row["judges"]["llm"]["errors"] == 0
        assert row["mean_length"] >= 0 and "rm_score" in row
    assert report["other"]["kl_to_base"] is not None and report["endpoint"]["kl_to_base"] is None
    assert report["other"]["pretrain_loss"] > 0 and report["endpoint"]["pretrain_loss"] is None
    assert report["base"]["win_rate_vs_base"] == 0.5 and report["base"]["kl_to_base"] == 0.0
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved == json.loads(json.dumps(report))
    samples = json.loads((tmp_path / "eval" / "samples.json").read_text())
    assert len(samples["other"]["answers"]) == len(PROMPTS)
    assert (tmp_path / "eval" / "results.md").read_text().startswith("| model")


def test_human_judge_compare_tasks_round_trip(start_server, model_dir, tmp_path, admin_headers):
    srv = start_server(f"sqlite:///{tmp_path / 'h.db'}", tmp_path / "h.log", "--rate_limit_per_minute", "0")
    admin = httpx.Client(base_url=srv.url, headers=admin_headers, timeout=30)
    keys = [admin.post("/api/admin/users", json={"name": n, "role": "labeler"}).json()["api_key"] for n in ("ann", "bo")]
    prompts_file = tmp_path / "p.jsonl"
    write_jsonl(prompts_file, [{"prompt": p} for p in PROMPTS[:3]])
    prompts = load_prompts(str(prompts_file))
    ours, theirs = ["good one", "good two", "same"], ["bad one", "bad two", "same"]
    out = tmp_path / "eval"
    out.mkdir()
    comp = HumanJudge(srv.url, srv.key, out, replication=2, seed=0).compare(prompts, ours, theirs, a_name="new",
                                                                            b_name="old")
    assert comp.pending and comp.details["tasks"] == 2  # identical answers need nobody
    tasks = json.loads((out / "human_tasks.json").read_text())["comparisons"][0]["tasks"]
    for key in keys:  # both labelers prefer the "good" answer, wherever it is shown
        c = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert c.post("/api/labeling/tasks/999/submit", json={"choice": "A"}).status_code == 404
        while (task := c.get("/api/labeling/next?kind=compare").json()["task"]) is not None:
            assert task["kind"] == "compare" and task["k"] == 2
            bad = c.post(f"/api/labeling/tasks/{task['id']}/submit", json={"ranks": [1, 2]})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "choice"
            choice = "A" if task["answers"][0].startswith("good") else "B"
            assert c.post(f"/api/labeling/tasks/{task['id']}/submit", json={"choice": choice}).status_code == 200
    from kaizen.eval.judges.human import collect

    res = collect(out, srv.key)["new_vs_old"]
    # two prompts won by both labelers, one tie without asking: (1 + 1 + 0.5) / 3
    assert res["answered"] == 2 and res["choices"] == 4 and abs(res["win_rate"] - 2.5 / 3) < 1e-9
    assert {t["swapped"] for t in tasks if t["task_id"]} <= {True, False}
    exported = admin.get("/api/admin/export").json()["rankings"]
    pairs = [r for r in exported if r["meta"].get("source") == "labeling"]
    assert len(pairs) == 4 and all(r["answers"][r["ranks"].index(1)].startswith("good") for r in pairs)
