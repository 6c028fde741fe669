"""Reasoning tasks beside the demo world: additive files, byte-identical per seed, a checker that
accepts every demonstration and rejects wrong answers, held-out items unseen in training."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from kaizen.world.reasoning import ReasoningConfig, ReasoningTasks, build_reasoning
from kaizen.world.reasoning import tasks as T

SMALL = dict(train_arithmetic=60, train_multihop=40, train_lookup=30, heldout_arithmetic=30, heldout_multihop=20,
             heldout_lookup=20)


def digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def rworld(small_world, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rworld") / "world"
    shutil.copytree(small_world, d)
    build_reasoning(ReasoningConfig(world=str(d), **SMALL))
    return d


def test_files_are_additive_and_byte_identical(small_world, rworld, tmp_path):
    before = digests(small_world)
    after = digests(rworld)
    assert {k: after[k] for k in before} == before  # the world's own files are untouched
    assert set(after) - set(before) == {"reasoning.json", "prompts_reasoning_train.jsonl",
                                        "prompts_reasoning_heldout.jsonl", "sft_reasoning.jsonl", "store_reasoning.jsonl",
                                            "corpus_reasoning.jsonl"}
    again = tmp_path / "world"
    shutil.copytree(small_world, again)
    build_reasoning(ReasoningConfig(world=str(again), **SMALL))
    assert digests(again) == after


def test_checker_accepts_demonstrations_and_rejects_wrong_answers(rworld):
    tasks = ReasoningTasks(rworld)
    items = {p.id: p for split in ("train", "heldout") for p in tasks.prompts(split)}
    rows = [json.loads(line) for line in (rworld / "sft_reasoning.jsonl").open()]
    assert {r["format"] for r in rows} == {"direct", "cot", "react", "knowledge"}
    for r in rows:
        item = items[r["id"].rsplit("-", 1)[0]]
        final = r["messages"][-1]["content"]
        if r["format"] == "knowledge" and final.startswith("The answer") is False:
            continue  # the knowledge-writing step has no answer
        assert tasks.check(item, final), (item.meta, final)
    for item in list(items.values())[:80]:
        gold = item.meta["answer"]
        assert tasks.check(item, f"The answer is {gold}.")
        if item.meta["answer_kind"] == "number":
            assert not tasks.check(item, f"The answer is {int(gold) + 1}.")
            assert not tasks.check(item, f"{gold} or {int(gold) + 2}")
        else:
            other = next(v for v in T.lx.DOMAINS[item.meta["domain"]] if v != gold)
            assert not tasks.check(item, f"The answer is {other}.")
            assert not tasks.check(item, f"{gold} or {other}")


def test_heldout_items_are_unseen_and_react_observations_are_real(rworld):
    tasks = ReasoningTasks(rworld)
    train_q = {p.messages[-1].content for p in tasks.prompts("train")}
    held = tasks.prompts("heldout")
    assert held and not train_q & {p.messages[-1].content for p in held}
    sft_text = (rworld / "sft_reasoning.jsonl").read_text()
    for p in held:
        if p.task == "lookup":  # a held-out price is never stated in a demonstration
            step = p.meta["steps"][0]
            assert tasks.ledger.notice(_kb(rworld), step["town"], step["good"]) not in sft_text
    from kaizen.prompting.tools import DocumentStore

    store = DocumentStore.from_files(tasks.store_files())
    react_rows = [json.loads(line) for line in (rworld / "sft_reasoning.jsonl").open() if '"react"' in line]
    assert react_rows
    for r in react_rows:
        msgs = r["messages"]
        for a, o in zip(msgs[2::2], msgs[3::2]):
            if "Action: search[" in a["content"]:
                query = a["content"].split("search[", 1)[1].rstrip("]")
                assert o["content"] == "Observation: " + store.search(query)


def _kb(world: Path):
    from kaizen.world.knowledge import KnowledgeBase

    return KnowledgeBase.from_dict(json.loads((world / "world.json").read_text())["entities"])


def test_days_between():
    assert T.days_between("friday", "monday") == 3 and T.days_between("monday", "sunday") == 6


def test_cli_writes_the_files(small_world, tmp_path, capsys):
    from kaizen.data.cli import main

    d = tmp_path / "w"
    shutil.copytree(small_world, d)
    args = ["reasoning-world", "--world", str(d)] + [x for k, v in SMALL.items() for x in (f"--{k}", str(v))]
    assert main(args) == 0
    assert "sft_reasoning" in capsys.readouterr().out and (d / "prompts_reasoning_heldout.jsonl").exists()


def test_arithmetic_corpus_states_steps_never_a_whole_purchase():
    import random

    from kaizen.world.reasoning.arithmetic import arithmetic_documents

    docs = arithmetic_documents(200, ["boats", "hats"], ["monday", "tuesday", "wednesday", "thursday", "friday",
                                                         "saturday", "sunday"], 4, 6, random.Random(0))
    text = " ".join(d["text"] for d in docs)
    assert len(docs) == 200 and "3 x 4 = 12." in text and "From Monday to Wednesday is 2 days." in text
    # a product and a sum are never written in one statement: that is a held-out task's answer
    assert not any("x" in part and "+" in part for d in docs for part in d["text"].split("."))
    for stmt in (p for d in docs for p in d["text"].split(". ")):  # every equation is right
        if " = " in stmt and " x " in stmt:
            lhs, rhs = stmt.split(" cost ")[-1].split(" = ")
            a, b = lhs.split(" x ")
            assert int(a) * int(b) == int(rhs.split()[0].rstrip("."))
