"""The closed loop end to end on tiny models: simulated users chat over HTTP, a round is trained from
their feedback, the gate decides; then `kaizen loop --from_server` on the same database."""

from __future__ import annotations

import json
from dataclasses import replace

from kaizen.cli import main as kaizen
from kaizen.data.jsonl import read_jsonl
from kaizen.feedback_demo import DEFAULT_DPO, feedback_loop_section
from kaizen.registry import Registry, sha256_file


def test_feedback_loop_section_and_a_second_round(small_world, tiny_model_factory, tmp_path):
    sft = tiny_model_factory("llama")
    out = tmp_path / "feedback"
    section = feedback_loop_section(out, small_world, sft, seed=0, chats=9, max_new_tokens=8, eval_prompts=12,
                                    dpo=replace(DEFAULT_DPO, max_steps=2, batch_size=4))
    assert section["chats"] == 9 and section["users"] == 3 and section["served_before"] == "kaizen-v1"
    (rnd,) = section["rounds"]
    assert rnd["version"] == "v2" and rnd["parent"] == "v1" and rnd["feedback_rows"] > 0
    assert 0.0 <= rnd["win_rate_vs_served"] <= 1.0 and len(rnd["ci95"]) == 2
    assert rnd["promoted"] == (rnd["ci95"][0] > 0.5 and all(c["passed"] for c in rnd["gate"]))
    assert section["swapped_live"] == rnd["promoted"]
    assert json.loads((out / "feedback_loop.json").read_text()) == json.loads(json.dumps(section))
    assert (out / "gold_per_round.png").stat().st_size > 1000

    # Every training row traces back to its conversation and messages, and the files match the lineage.
    v2 = Registry(out / "models").get("v2")
    assert v2.status == ("promoted" if rnd["promoted"] else "rejected") and v2.lineage["gate"]["checks"]
    for name, rec in v2.lineage["data"].items():
        assert sha256_file(rec["path"]) == rec["sha256"], name
    rows = [r for _, r in read_jsonl(v2.dir / "data" / "lineage_rows.jsonl")]
    rankings = [r for r in rows if r["kind"] == "ranking"]
    assert rankings and all(r["conversation_id"] and len(r["message_ids"]) >= 2 for r in rankings)
    assert (v2.dir / "train" / "dpo" / "model").exists() and (v2.dir / "eval" / "samples.json").exists()
    evald = json.loads((v2.dir / "eval" / "results.json").read_text())
    assert evald["candidate"]["win_rate_vs_served"] == rnd["win_rate_vs_served"]

    # The same database again: nothing new, so no round.
    db = f"sqlite:///{out / 'serve.db'}"
    assert kaizen(["loop", "--from_server", db, "--registry", str(out / "models"), "--judge", f"rm={sft}",
                   "--world", str(small_world)]) == 0
    assert len(Registry(out / "models").versions()) == 2

    # A fresh registry: RM + PPO on all of it, gated by a reward-model judge on generic prompts.
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"tell me about the fox {i}"}) + "\n" for i in range(6)))
    assert kaizen(["loop", "--from_server", db, "--registry", str(tmp_path / "models2"), "--base_model", str(sft),
                   "--algo", "rm_ppo", "--judge", f"rm={sft}", "--eval_prompts", str(prompts),
                   "--eval_max_new_tokens", "6", "--rm.max_steps", "2", "--rm.batch_size", "4",
                   "--rm.eval_fraction", "0", "--ppo.iterations", "1", "--ppo.rollout_batch_size", "4",
                   "--ppo.minibatch_size", "4", "--ppo.ppo_epochs", "1", "--ppo.max_new_tokens", "6",
                   "--ppo.save_every", "0"]) == 0
    v = Registry(tmp_path / "models2").get("v2")
    assert v.status in ("promoted", "rejected") and (v.dir / "train" / "rm" / "model").exists()
    assert (v.dir / "train" / "ppo" / "model").exists() and v.lineage["eval"]["prompts"] == 6
