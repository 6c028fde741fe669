"""The README's "your own model" walk-through, every command of it, on a tiny model (no demo world):
data -> SFT -> people rank in the labeling UI's API -> export -> RM -> PPO-ptx -> eval -> registry -> serve."""

from __future__ import annotations

import json
import time

import httpx

from conftest import sample_sentences
from kaizen.cli import main as kaizen
from kaizen.data.jsonl import write_jsonl
from kaizen.registry import Registry
from tests.serve.conftest import Server

KEY = "kz-walkthrough-admin"


def test_one_full_round_on_your_own_model(tiny_model_factory, tiny_sft_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = tiny_model_factory("llama")
    write_jsonl("my_prompts.jsonl", [{"prompt": s} for s in sample_sentences(6, seed=11)])
    write_jsonl("my_corpus.jsonl", [{"text": " ".join(sample_sentences(10, seed=i))} for i in range(10)])
    assert kaizen(["data", "validate", str(tiny_sft_data), "my_prompts.jsonl"]) == 0
    assert kaizen(["sft", "--model", str(base), "--data", str(tiny_sft_data), "--out", "runs/sft", "--max_steps", "3",
                   "--batch_size", "4", "--lr", "3e-3", "--save_every", "0"]) == 0

    # Rank with people: the admin loads prompts as rank tasks, the server samples K = 4 answers, two labelers rank.
    srv = Server(tmp_path / "runs/sft/model", "sqlite:///serve.db", tmp_path / "serve.log", "--admin_key", KEY,
                 "--rate_limit_per_minute", "0")
    try:
        admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        made = admin.post("/api/admin/tasks", json={"kind": "rank", "k": 4, "replication": 2, "max_tokens": 8,
                                                    "jsonl": open("my_prompts.jsonl").read()}).json()
        deadline = time.monotonic() + 120
        while admin.get("/api/admin/tasks?status=generating").json()["tasks"]:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        for name in ("ann", "bo"):
            key = admin.post("/api/admin/users", json={"name": name, "role": "labeler"}).json()["api_key"]
            c = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
            while (task := c.get("/api/labeling/next?kind=rank").json()["task"]) is not None:
                ranks = sorted(range(1, 5), key=lambda r: len(task["answers"][r - 1]))  # a labeler's own taste
                r = c.post(f"/api/labeling/tasks/{task['id']}/submit", json={"ranks": [ranks.index(i) + 1 for i in range(1, 5)]})
                assert r.status_code == 200, r.text
        assert len(made["task_ids"]) == 6
    finally:
        srv.stop()
    assert kaizen(["export", "--db_url", "sqlite:///serve.db", "--out", "feedback"]) == 0
    assert len(open("feedback/rankings.jsonl").read().splitlines()) == 12

    assert kaizen(["rm", "--model", "runs/sft/model", "--data", "feedback/rankings.jsonl", "--demonstrations",
                   str(tiny_sft_data), "--out", "runs/rm", "--max_steps", "3", "--batch_size", "4", "--lr", "1e-3",
                   "--eval_fraction", "0.34", "--save_every", "0"]) == 0
    quality = json.loads(open("runs/rm/rm_quality.json").read())
    assert quality["num_pairs"] > 0 and set(quality["labelers"]) <= {"ann", "bo"}
    assert kaizen(["ppo", "--policy", "runs/sft/model", "--reward_model", "runs/rm/model", "--prompts",
                   "my_prompts.jsonl", "--ptx_data", "my_corpus.jsonl", "--out", "runs/ppo", "--iterations", "2",
                   "--rollout_batch_size", "4", "--minibatch_size", "4", "--ppo_epochs", "1", "--max_new_tokens", "8",
                   "--ptx_block_size", "32", "--save_every", "0"]) == 0
    assert kaizen(["eval", "--models", "ppo=runs/ppo/model", "sft=runs/sft/model", "--reference", "sft",
                   "--prompts", "my_prompts.jsonl", "--judges", "rm=runs/rm/model", "--heldout_text",
                   "my_corpus.jsonl", "--max_new_tokens", "8", "--out", "runs/eval"]) == 0
    result = json.loads(open("runs/eval/results.json").read())["ppo"]
    assert 0 <= result["win_rate_vs_sft"] <= 1 and result["pretrain_loss"] > 0
    assert kaizen(["registry", "add", "models", "runs/sft/model", "--promote"]) == 0
    assert kaizen(["registry", "add", "models", "runs/ppo/model", "--eval", "runs/eval/results.json",
                   "--candidate", "ppo", "--reference", "sft"]) == 0
    v2 = Registry("models").get("v2")
    assert v2.status == ("promoted" if result["ci95"][0] > 0.5 else "rejected")

    srv = Server(tmp_path / "runs/sft/model", "sqlite:///serve.db", tmp_path / "serve2.log", "--admin_key", KEY,
                 "--registry", "models")
    try:
        served = httpx.get(srv.url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}).json()["data"][0]["id"]
        assert served == ("ppo-v2" if v2.status == "promoted" else "sft-v1")  # named after their runs
    finally:
        srv.stop()
