"""What SFT would train on after ``kaizen export``: each feedback case through the HTTP API, then the
exact target tokens (labels != -100) of every exported demonstration, read the way ``kaizen sft``
reads them (``load_records`` + ``tokenize_demonstrations``)."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from kaizen.cli import main as kaizen_main
from kaizen.data.chat import END, IGNORE_INDEX
from kaizen.data.formats import load_records
from kaizen.data.jsonl import read_jsonl
from kaizen.sft import tokenize_demonstrations

SEEDS = iter(range(1000, 2000))  # each answer sampled with its own seed: distinct, reproducible answers


def send(client, cid, content, parent_id=None, **kw):
    body = {"content": content, "parent_id": parent_id, "stream": False, "max_tokens": 6, "seed": next(SEEDS)} | kw
    r = client.post(f"/api/conversations/{cid}/messages", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def ask(client, cid, content, parent_id=None):
    """A user turn and the model's answer: (user message, answer)."""
    out = send(client, cid, content, parent_id)
    return out["user_message"], out["message"]


def write(client, cid, content, parent_id):
    """An assistant turn the user wrote (an edited answer, or their own answer to a question)."""
    return send(client, cid, content, parent_id, role="assistant")["message"]


def regenerate(client, cid, parent_id):
    r = client.post(f"/api/conversations/{cid}/regenerate",
                    json={"parent_id": parent_id, "stream": False, "max_tokens": 6, "seed": next(SEEDS)})
    assert r.status_code == 200, r.text
    return r.json()["message"]


def thumb(client, m, value):
    assert client.put(f"/api/messages/{m['id']}/rating", json={"value": value}).status_code == 200


def keep(client, m):
    assert client.post(f"/api/messages/{m['id']}/choose").status_code == 200


def new_chat(client, **kw):
    return client.post("/api/conversations", json=kw).json()["conversation"]["id"]


@pytest.fixture
def exported(app_client, tmp_path):
    """``exported()`` -> (demonstration rows, rankings, ratings, report) of the app's DB."""

    def run():
        out = tmp_path / "feedback"
        assert kaizen_main(["export", "--db_url", app_client.app.state.kaizen.cfg.db_url, "--out", str(out)]) == 0
        rows = {name: [r for _, r in read_jsonl(out / f"{name}.jsonl")] for name in ("demonstrations", "rankings", "ratings")}
        return rows["demonstrations"], rows["rankings"], rows["ratings"], json.loads((out / "export.json").read_text())

    return run


def sft_targets(model_dir, path) -> dict[str, list[str]]:
    """Per demonstration id, the text of each run of tokens SFT takes the loss on."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    demos = load_records(path, "demonstration")
    examples, truncated = tokenize_demonstrations(tok, demos, max_length=10_000)
    assert truncated == 0 and len(examples) == len(demos)
    out = {}
    for d, ex in zip(demos, examples):
        runs, cur = [], []
        for t in [*ex.labels, IGNORE_INDEX]:
            if t != IGNORE_INDEX:
                cur.append(t)
            elif cur:
                runs.append(tok.decode(cur))
                cur = []
        out[d.id] = runs
    return out


def target(text: str) -> list[str]:
    """What SFT trains on for one endorsed answer: the answer and the end-of-turn marker, nothing else."""
    return [f"{text}{END}\n"]


def test_sft_trains_only_on_what_the_user_endorsed(app_client, exported, model_dir, tmp_path):
    # 1. thumb down the first answer, then write your own answer on the next turn
    c1 = new_chat(app_client, system_prompt="Be brief.")
    q1, bad = ask(app_client, c1, "first question")
    thumb(app_client, bad, -1)
    q2 = send(app_client, c1, "say it properly", bad["id"], generate=False)["user_message"]
    own = write(app_client, c1, "My own answer.", q2["id"])
    # 2. "keep this one" on alternative 1, thumb up on alternative 2
    c2 = new_chat(app_client)
    q, alt1 = ask(app_client, c2, "pick one")
    alt2 = regenerate(app_client, c2, q["id"])
    keep(app_client, alt1)
    thumb(app_client, alt2, 1)
    # 3. a hand-written correction beside a model answer, no thumbs
    c3 = new_chat(app_client)
    q3, model_answer = ask(app_client, c3, "correct me")
    fixed = write(app_client, c3, "The corrected answer.", q3["id"])
    # 4. a thumb up deep in a chat: the earlier turns are context only
    c4 = new_chat(app_client)
    _, early = ask(app_client, c4, "warm up")
    _, late = ask(app_client, c4, "now the real question", early["id"])
    thumb(app_client, late, 1)
    # 5. a thumbed-down answer that was also kept: never a target
    c5 = new_chat(app_client)
    q5, kept_bad = ask(app_client, c5, "keep but dislike")
    keep(app_client, kept_bad)
    thumb(app_client, kept_bad, -1)

    demos, rankings, ratings, report = exported()
    targets = sft_targets(model_dir, tmp_path / "feedback" / "demonstrations.jsonl")
    assert targets == {f"chat:{own['id']}": target("My own answer."),
                       f"chat:{alt1['id']}": target(alt1["content"]), f"chat:{alt2['id']}": target(alt2["content"]),
                       f"chat:{fixed['id']}": target("The corrected answer."),
                       f"chat:{late['id']}": target(late["content"])}
    by_id = {d["id"]: d for d in demos}
    # The disliked answer stays in the row as context, with weight 0 (OpenAI's fine-tuning format).
    assert by_id[f"chat:{own['id']}"]["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "first question"},
        {"role": "assistant", "content": bad["content"], "weight": 0}, {"role": "user", "content": "say it properly"},
        {"role": "assistant", "content": "My own answer.", "weight": 1}]
    meta = by_id[f"chat:{own['id']}"]["meta"]
    assert (meta["signals"], meta["models"], meta["context_models"]) == (["written"], [None], ["tiny-llama"])
    assert by_id[f"chat:{late['id']}"]["messages"][1] == {"role": "assistant", "content": early["content"], "weight": 0}

    chat = {r["id"]: r for r in rankings}
    assert (chat[f"chat:{q['id']}"]["answers"], chat[f"chat:{q['id']}"]["ranks"]) == ([alt1["content"], alt2["content"]], [1, 2])
    assert chat[f"chat:{q['id']}"]["meta"]["signals"] == ["kept", "thumbs_up"]
    assert (chat[f"chat:{q3['id']}"]["answers"], chat[f"chat:{q3['id']}"]["ranks"]) == (["The corrected answer.", model_answer["content"]], [1, 2])
    assert chat[f"chat:{q3['id']}"]["meta"]["models"] == [None, "tiny-llama"]
    assert len(rankings) == 2  # no better answer beside `bad` or `kept_bad`: they are ratings
    # Thumbs in no ranking are also ratings rows (absolute feedback), thumbs up beside their demonstration.
    assert {r["id"]: r["rating"] for r in ratings} == {f"chat:{bad['id']}": -1, f"chat:{kept_bad['id']}": -1,
                                                       f"chat:{late['id']}": 1}

    assert report["counts"] == {"demonstrations": 5, "rankings": 2, "ratings": 3}
    assert report["signals"] == {"kept": 2, "thumbs_down": 2, "thumbs_up": 2, "written": 2}
    assert report["skipped"] == {"kept: the same answer is thumbed down": 1}
    assert report["not_targets"] == {"kept: it is also thumbed down": 1}


def test_a_disliked_answer_is_the_rejected_side_when_a_better_one_exists(app_client, exported, model_dir, tmp_path):
    c = new_chat(app_client)
    q, down = ask(app_client, c, "two tries")
    up = regenerate(app_client, c, q["id"])
    unrated = regenerate(app_client, c, q["id"])
    thumb(app_client, down, -1)
    thumb(app_client, up, 1)
    q2, lone_up = ask(app_client, c, "again", up["id"])
    thumb(app_client, lone_up, 1)
    regenerate(app_client, c, q2["id"])  # unrated beside a thumb up: no pair, a thumb alone compares nothing

    demos, rankings, ratings, report = exported()
    (r,) = rankings
    assert (r["answers"], r["ranks"], r["meta"]["signals"]) == ([up["content"], down["content"]], [1, 2],
                                                                 ["thumbs_up", "thumbs_down"])
    assert unrated["id"] not in r["meta"]["message_ids"]
    assert [x["id"] for x in ratings] == [f"chat:{lone_up['id']}"]
    targets = sft_targets(model_dir, tmp_path / "feedback" / "demonstrations.jsonl")
    assert targets == {f"chat:{up['id']}": target(up["content"]), f"chat:{lone_up['id']}": target(lone_up["content"])}
    assert report["skipped"] == {}


def test_signals_in_deleted_chats_are_counted_not_exported(app_client, exported):
    c = new_chat(app_client)
    _, a = ask(app_client, c, "oops")
    thumb(app_client, a, 1)
    app_client.delete(f"/api/conversations/{c}")
    demos, rankings, ratings, report = exported()
    assert (demos, rankings, ratings) == ([], [], [])
    assert report["skipped"] == {"thumbs_up: the user deleted the conversation": 1}


def test_truncated_targets_can_be_left_out(app_client, tmp_path):
    c = new_chat(app_client)
    _, a = ask(app_client, c, "long answer please")
    thumb(app_client, a, 1)
    assert a["finish_reason"] == "length"
    out = tmp_path / "strict"
    db_url = app_client.app.state.kaizen.cfg.db_url
    assert kaizen_main(["export", "--db_url", db_url, "--out", str(out), "--truncated_targets", "false"]) == 0
    report = json.loads((out / "export.json").read_text())
    assert report["counts"] == {"demonstrations": 0, "rankings": 0, "ratings": 1}
    assert report["not_targets"] == {"thumbs_up: cut at max_tokens": 1}


def test_labeled_rankings_name_the_model_that_wrote_their_answers(app_client, exported, add_user):
    import time

    r = app_client.post("/api/admin/tasks", json={"k": 4, "max_tokens": 4, "jsonl": '{"prompt": "hello world"}\n'})
    tid = r.json()["task_ids"][0]
    deadline = time.monotonic() + 30
    while app_client.get(f"/api/admin/tasks/{tid}").json()["task"]["status"] == "generating":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    lab = {"Authorization": "Bearer " + add_user(app_client, "lena", "labeler")}
    task = app_client.get("/api/labeling/next", headers=lab).json()["task"]
    assert app_client.post(f"/api/labeling/tasks/{task['id']}/submit", headers=lab,
                           json={"ranks": [1, 2, 3, 4]}).status_code == 200
    _, rankings, _, report = exported()
    assert rankings[0]["meta"] == {"source": "labeling", "task_id": tid, "model": "tiny-llama"}
    assert report["signals"] == {"labeling_rank": 1}


def test_an_empty_answer_leaves_its_ranking_with_its_rank(app_client, exported, add_user):
    # a sampled answer can be empty (the model stopped at once); kaizen rm rejects empty answers, so the
    # export drops them from the ranking, and the ranking itself if no strict pair is left
    rows = [{"prompt": "p1", "answers": ["good", "", "fine", "bad"]}, {"prompt": "p2", "answers": ["a", "", " ", ""]}]
    r = app_client.post("/api/admin/tasks", json={"k": 4, "jsonl": "".join(json.dumps(x) + "\n" for x in rows)})
    assert r.status_code == 200, r.text
    lab = {"Authorization": "Bearer " + add_user(app_client, "lena", "labeler")}
    while (task := app_client.get("/api/labeling/next", headers=lab).json()["task"]) is not None:
        assert app_client.post(f"/api/labeling/tasks/{task['id']}/submit", headers=lab,
                               json={"ranks": [1, 2, 3, 4]}).status_code == 200
    _, rankings, _, report = exported()
    assert [(x["answers"], x["ranks"]) for x in rankings] == [(["good", "fine", "bad"], [1, 3, 4])]
    assert report["skipped"] == {"labeling_rank: empty answers left out of their ranking": 4,
                                 "labeling_rank: no preferred answer left without the empty answers": 1}
