"""The demo's closed loop: simulated users chat with the served model, one round learns from them.

    from kaizen.feedback_demo import feedback_loop_section
    section = feedback_loop_section(out / "feedback", out / "world", served_model=out / "sft" / "model", seed=0)
    results["feedback_loop"] = section

The served model runs in this process behind the real HTTP API (uvicorn on a free port, the
registry watcher on). The demo world's labelers become chat users: each opens a conversation
with one of the world's train prompts, gets an answer, regenerates, keeps the answer they
perceive as better (``SimulatedLabeler.perceive``: the gold judge through their own noise and
taste) and gives a thumb up to a kept answer they like and a thumb down to one they find bad.
Then one round of the closed loop (``kaizen.loop.closed_round``) reads that feedback back over
HTTP, trains a candidate by DPO from the served model, evaluates it against the served model on
the world's held-out prompts with the gold judge, and the gate promotes it or not. A promoted
candidate is hot-swapped into the running server; the section waits until ``/v1/models`` shows it.

Everything lands in ``OUT``: ``serve.db`` (every chat, rating and choice), ``models/v1``,
``models/v2`` (lineage, training rows with their conversation and message ids, the DPO run, the
gate's evaluation with every answer), ``feedback_loop.json`` and ``gold_per_round.png``.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from kaizen.dpo import DPOConfig
from kaizen.eval.http import JsonAPI

# A kept answer the user perceives at least this good gets a thumb up, one below BAD a thumb down
# (perceived quality = 4·harmless + 2·(truthful and engaged) + helpful + taste + noise; see
# world/labelers.py): a harmless, truthful, fairly helpful answer is above 6.5, a harmful or
# false one below 4.5.
GOOD, BAD = 6.5, 4.5
DEFAULT_DPO = DPOConfig(lr=1e-5, beta=0.1, max_steps=60, batch_size=16, warmup_steps=5, save_every=0, log_every=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InProcessServer:
    """``kaizen serve --registry`` in this process: the real app on uvicorn, in a thread."""

    def __init__(self, registry: Path, db_url: str, admin_key: str, max_new_tokens: int, poll_s: float = 0.5):
        import uvicorn

        from kaizen.serve.app import create_app
        from kaizen.serve.auth import ensure_admin
        from kaizen.serve.config import ServeConfig
        from kaizen.serve.db import Database
        from kaizen.serve.engine import load_engine
        from kaizen.serve.registry import attach, resolve

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = ServeConfig(registry=str(registry), db_url=db_url, admin_key=admin_key, port=self.port,
                          rate_limit_per_minute=0, max_new_tokens=max_new_tokens, registry_poll_s=poll_s,
                          log_level="warning", device="cpu")
        self.db = Database(db_url)
        self.db.migrate()
        ensure_admin(self.db, "admin", key=admin_key)
        cfg, version = resolve(cfg)
        self.app = create_app(cfg, load_engine(cfg), self.db)
        self.watcher = attach(self.app, cfg, version)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="kaizen-demo-serve", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process kaizen serve did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.watcher.stop()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        getattr(self.app.state.kaizen.engine, "close", lambda: None)()
        self.db.close()


def chat_prompts(world, n: int, seed: int) -> list:
    """``n`` of the world's train prompts that are one user turn (after an optional system turn)."""
    items = [p for p in world.prompts("train") if [m.role for m in p.messages] in (["user"], ["system", "user"])]
    return random.Random(f"{seed}:feedback:prompts").sample(items, min(n, len(items)))


def simulate_chat(api: JsonAPI, labeler, item, rng: random.Random, regenerations: int, max_new_tokens: int,
                  seed: int) -> dict:
    """One user's chat through the HTTP API: ask, regenerate, keep the better answer, rate. Returns what they did."""
    system = next((m.content for m in item.messages if m.role == "system"), "")
    question = item.messages[-1].content
    conv = api.post("/api/conversations", {"system_prompt": system})["conversation"]["id"]
    gen = {"stream": False, "temperature": 1.0, "max_tokens": max_new_tokens}
    first = api.post(f"/api/conversations/{conv}/messages", {"content": question, "seed": seed, **gen})
    parent = first["user_message"]["id"]
    answers = [first["message"]]
    for r in range(regenerations):
        answers.append(api.post(f"/api/conversations/{conv}/regenerate",
                                {"parent_id": parent, "seed": seed + 1 + r, **gen})["message"])
    perceived = [labeler.perceive(item, a["content"], rng)[0] for a in answers]
    best = max(range(len(answers)), key=lambda i: perceived[i])
    did = {"conversation_id": conv, "labeler": labeler.name, "answers": len(answers), "chosen": None,
           "thumbs_up": 0, "thumbs_down": 0}
    if len({a["content"].strip() for a in answers}) > 1:  # identical answers leave nothing to choose
        api.post(f"/api/messages/{answers[best]['id']}/choose", {})
        did["chosen"] = answers[best]["id"]
    for i, a in enumerate(answers):
        if i == best and perceived[i] >= GOOD:
            api.request("PUT", f"/api/messages/{a['id']}/rating", {"value": 1})
            did["thumbs_up"] += 1
        elif perceived[i] < BAD:
            api.request("PUT", f"/api/messages/{a['id']}/rating", {"value": -1, "reason": "wrong or harmful"})
            did["thumbs_down"] += 1
    return did


def plot_gold_per_round(rounds: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = list(range(len(rounds) + 1))
    served = [rounds[0]["gold_score_served"]] + [r["gold_score_served_after"] for r in rounds]
    ax.plot(xs, served, "o-", color="tab:blue", label="served model (after the gate)")
    for i, r in enumerate(rounds, start=1):
        ok = r["promoted"]
        ax.plot([i], [r["gold_score_candidate"]], "s", ms=9, color="tab:green" if ok else "tab:red",
                label="candidate promoted" if ok else "candidate rejected")
        ci = r["ci95"]
        ax.annotate(f"win {r['win_rate_vs_served']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]", (i, r["gold_score_candidate"]),
                    textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xticks(xs, ["start"] + [f"round {i}" for i in xs[1:]])
    ax.set_ylabel("gold score (held-out prompts)")
    ax.set_title("Closed loop: chat feedback -> DPO -> gate", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def feedback_loop_section(out_dir: str | Path, world_dir: str | Path, served_model: str | Path, seed: int = 0,
                          chats: int = 120, regenerations: int = 1, max_new_tokens: int = 48,
                          eval_prompts: int = 200, dpo: DPOConfig = DEFAULT_DPO, users_at_once: int = 16,
                          log=print) -> dict:
    """Serve ``served_model``, let simulated users give feedback over HTTP, run one gated round; the
    demo's ``feedback_loop`` results (see the module docstring)."""
    from kaizen.loop import LoopConfig, closed_round
    from kaizen.registry import Registry
    from kaizen.world import DemoWorld

    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)  # a rerun starts a fresh service and registry: its numbers stand on their own
    out.mkdir(parents=True)
    world = DemoWorld.load(world_dir)
    registry = out / "models"
    Registry(registry).register(served_model, None, status="promoted", note="the demo's served model")
    admin_key = "kz-" + secrets.token_urlsafe(24)
    server = InProcessServer(registry, f"sqlite:///{out / 'serve.db'}", admin_key, max_new_tokens)
    try:
        admin = JsonAPI(server.url, admin_key, timeout=600)
        served_name = admin.get("/v1/models")["data"][0]["id"]
        labelers = world.labelers()
        keys = {lab.name: admin.post("/api/admin/users", {"name": lab.name, "role": "user"})["api_key"]
                for lab in labelers}
        items = chat_prompts(world, chats, seed)

        def one(i: int) -> dict:
            lab = labelers[i % len(labelers)]
            return simulate_chat(JsonAPI(server.url, keys[lab.name], timeout=600), lab, items[i],
                                 random.Random(f"{seed}:feedback:{items[i].id}"), regenerations, max_new_tokens,
                                 seed * 100_003 + 2 * i * (regenerations + 1))

        t_chat = time.perf_counter()
        with ThreadPoolExecutor(users_at_once) as pool:  # users at once: the engine batches their requests
            done = list(pool.map(one, range(len(items))))
        t_chat = time.perf_counter() - t_chat
        log(f"feedback: {len(done)} chats by {len(labelers)} simulated users in {t_chat:.0f}s: "
            f"{sum(d['chosen'] is not None for d in done)} choices, {sum(d['thumbs_up'] for d in done)} thumbs up, "
            f"{sum(d['thumbs_down'] for d in done)} thumbs down")
        cfg = LoopConfig(from_server=server.url, api_key=admin_key, registry=str(registry), algo="dpo", judge="gold",
                         world=str(world_dir), eval_num_prompts=eval_prompts, eval_max_new_tokens=max_new_tokens,
                         seed=seed, dpo=replace(dpo, save_every=0))
        summary = closed_round(cfg, log=log)
        served_after = served_name
        if summary.get("promoted"):  # the watcher swaps the running server's engine: wait until it says so
            deadline = time.monotonic() + 120
            while served_after == served_name and time.monotonic() < deadline:
                time.sleep(0.25)
                served_after = admin.get("/v1/models")["data"][0]["id"]
    finally:
        server.stop()
    if summary.get("skipped"):
        rounds = []
    else:
        ev = summary["eval"]
        cand, base = ev["candidate"], ev["served"]
        rounds = [{"round": 1, "version": summary["version"], "parent": summary["parent"],
                   "feedback_rows": summary["feedback_rows"], "feedback": summary["feedback"],
                   "win_rate_vs_served": summary["win_rate_vs_served"], "ci95": summary["ci95"],
                   "lc_win_rate_vs_served": cand.get("lc_win_rate_vs_served"),
                   "promoted": summary["promoted"], "gate": summary["gate"]["checks"],
                   "gold_score_served": base.get("gold_score"), "gold_score_candidate": cand.get("gold_score"),
                   "gold_score_served_after": cand.get("gold_score") if summary["promoted"] else base.get("gold_score"),
                   "harmful_compliance_served": base.get("harmful_compliance"),
                   "harmful_compliance_candidate": cand.get("harmful_compliance"),
                   "eval_results": str(registry / summary["version"] / "eval" / "results.json")}]
    section = {"rounds": rounds, "chats": len(done), "users": len(labelers), "served_before": served_name,
               "served_after": served_after, "swapped_live": served_after != served_name,
               "skipped": summary.get("reason"), "registry": str(registry), "seconds_chatting": round(t_chat, 1),
               "seconds_round": summary.get("seconds"),
               "seconds": round(time.perf_counter() - t0, 1)}
    if rounds:
        section["plot"] = str(plot_gold_per_round(rounds, out / "gold_per_round.png"))
    (out / "feedback_loop.json").write_text(json.dumps(section, indent=2))
    return section
