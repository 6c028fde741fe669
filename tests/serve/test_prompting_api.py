"""Prompting strategies through /v1/chat/completions, read by the official ``openai`` client."""

from __future__ import annotations

import json

import openai
import pytest

from kaizen.prompting.serve import PromptingConfig
from tests.serve.conftest import ADMIN_KEY

MSGS = [{"role": "user", "content": "what is two plus two"}]


def client_for(test_client) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=ADMIN_KEY, http_client=test_client, max_retries=0)


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"text": "two plus two is four. the sea is blue."}) + "\n")
    return str(path)


def test_self_consistency_answer_is_openai_shaped(make_app):
    with make_app() as tc:
        c = client_for(tc).chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=12, seed=3,
                                                   extra_body={"kaizen": {"strategy": "self_consistency", "n": 3}})
    assert isinstance(c, openai.types.chat.ChatCompletion) and c.object == "chat.completion"
    assert isinstance(c.choices[0].message.content, str) and c.choices[0].finish_reason in ("stop", "length")
    extra = c.model_extra["kaizen"]
    assert extra["strategy"] == "self_consistency@3" and len(extra["candidates"]) == 3
    assert "samples; votes" in c.choices[0].message.model_extra["reasoning_content"]
    assert c.usage.completion_tokens == extra["tokens"] > 0


def test_react_transcript_and_streaming(make_app, docs):
    with make_app(prompting=PromptingConfig(documents=[docs])) as tc:
        client = client_for(tc)
        c = client.chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=16,
                                           extra_body={"kaizen": {"strategy": "react", "max_steps": 2}})
        steps = c.model_extra["kaizen"]["steps"]
        assert 1 <= len(steps) <= 3 and all(set(s) == {"thought", "action", "input", "observation"} for s in steps)
        stream = client.chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=8, stream=True,
                                                stream_options={"include_usage": True},
                                                extra_body={"kaizen": {"strategy": "cot"}})
        chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert chunks[-1].usage.completion_tokens > 0 and chunks[-1].model_extra["kaizen"]["strategy"] == "cot"
    assert chunks[0].choices[0].delta.role == "assistant" and isinstance(text, str)
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] in ("stop", "length")


def test_best_of_n_candidates_become_a_ranking_task(make_app, model_dir, admin_headers):
    # the tiny causal LM loads as a reward model with a fresh scalar head: scores are arbitrary but real
    cfg = PromptingConfig(reward_model=str(model_dir), store_rankings=True)
    with make_app(prompting=cfg) as tc:
        c = client_for(tc).chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=10, temperature=1.5,
                                                   seed=1, extra_body={"kaizen": {"strategy": "best_of_n", "n": 6}})
        extra = c.model_extra["kaizen"]
        scores = [x["score"] for x in extra["candidates"]]
        assert scores == sorted(scores, reverse=True) and c.choices[0].message.content == extra["candidates"][0]["text"]
        distinct = len({x["text"] for x in extra["candidates"] if x["text"].strip()})
        assert distinct >= 4  # temperature 1.5 on a random model: the samples differ
        r = tc.get(f"/api/admin/tasks/{extra['ranking_task_id']}", headers=admin_headers)
    assert r.status_code == 200, r.text
    task = r.json()["task"]
    assert task["kind"] == "rank" and task["k"] == distinct and task["status"] == "open"


def test_bad_strategy_fields_are_400s_naming_the_field(make_app):
    with make_app() as tc:
        client = client_for(tc)
        for body, param in [({"strategy": "telepathy"}, "kaizen.strategy"), ({"strategy": "best_of_n", "n": 99}, "kaizen.n"),
                            ({"strategy": "cot", "n": "8"}, "kaizen.n"), ({"strategy": "best_of_n"}, "kaizen.strategy")]:
            with pytest.raises(openai.BadRequestError) as e:
                client.chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=4, extra_body={"kaizen": body})
            assert e.value.body["param"] == param, (body, e.value.body)
        plain = client.chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=4)
        assert "kaizen" not in (plain.model_extra or {})


def test_server_default_strategy(make_app):
    with make_app(prompting=PromptingConfig(strategy="zero_shot_cot")) as tc:
        c = client_for(tc).chat.completions.create(model="tiny-llama", messages=MSGS, max_tokens=6)
    assert c.model_extra["kaizen"]["strategy"] == "zero_shot_cot"
