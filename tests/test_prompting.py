"""Prompting strategies: tools and answer extraction against hand values, each strategy on a scripted
sampler (so what it does with the model's text is checked exactly) and on a tiny real model."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from kaizen.prompting import StrategyError, StrategySpec, Toolkit, run_strategy
from kaizen.prompting import best_of_n, cot, generated_knowledge, react, self_consistency
from kaizen.prompting.answers import extract_answer, normalize_answer, split_answer
from kaizen.prompting.evaluate import wilson
from kaizen.prompting.examples import ExamplePool, with_examples
from kaizen.prompting.tools import DocumentStore, calculate, evaluate_arithmetic, parse_step
from kaizen.prompting.types import Candidate, Completion


class Scripted:
    """A sampler whose answers are a function of the conversation (and the sample index)."""

    def __init__(self, fn):
        self.fn, self.seen = fn, []

    def complete(self, conversations, *, n=1, temperature=0.0, max_tokens=128):
        self.seen.append((conversations, n, temperature))
        out = []
        for conv in conversations:
            row = []
            for j in range(n):
                text, lp = self.fn(conv, j)
                row.append(Completion(text, len(text.split()), lp))
            out.append(row)
        return out


def q(text):
    return [{"role": "user", "content": text}]


# ---- tools -----------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, value", [("3 * 7 + 2 * 5", "31"), ("3 x 7", "21"), ("(2 + 3) * 4", "20"),
                                         ("7 / 2", "3.5"), ("-4 + 10", "6"), ("2 ** 10", "1024"), ("8 / 2", "4")])
def test_calculator_values(expr, value):
    assert calculate(expr) == value


@pytest.mark.parametrize("expr", ["__import__('os').system('true')", "open('x')", "a + 1", "(1).real", "[1, 2]",
                                  "2 ** 1000", "1 / 0", "", "lambda: 1", "9" * 300])
def test_calculator_refuses_anything_but_arithmetic(expr):
    out = calculate(expr)
    assert out.startswith("Error: "), out


def test_calculator_never_evaluates_names(monkeypatch):
    import builtins

    monkeypatch.setattr(builtins, "eval", lambda *a, **k: pytest.fail("eval was called"))
    assert evaluate_arithmetic("6 * 7") == 42


def test_document_store_finds_the_sentence_and_skips_questions():
    store = DocumentStore(["Q: What does the zorvik eat?\nA: The zorvik eats fish.",
                           "Tamora is a potter who lives in Lulholm. She likes long walks.",
                           "How to steal a boat", "Market price in Lulholm: boats cost 7 coins each."])
    assert store.search("zorvik eats") == "The zorvik eats fish."
    assert store.search("potter Lulholm") == "Tamora is a potter who lives in Lulholm."
    assert store.search("price boats Lulholm") == "Market price in Lulholm: boats cost 7 coins each."
    assert store.search("unrelated words only") == "No results."
    assert "What does" not in " ".join(store.passages) and "How to steal a boat" not in store.passages


def test_parse_step():
    assert parse_step("Thought: I need the pet.\nAction: search[Tamora pet]") == ("I need the pet.", "search", "Tamora pet")
    assert parse_step("The answer is 4.") == ("The answer is 4.", "", "")
    assert parse_step("Thought: done\nAction: Finish[ fish ]") == ("done", "finish", "fish")


# ---- answers ---------------------------------------------------------------------------------

def test_answer_extraction_and_normal_form():
    text = "2 boats cost 2 x 4 = 8 coins. 5 hats cost 5 x 3 = 15 coins. Together 23 coins. The answer is 23."
    assert extract_answer(text) == "23"
    assert split_answer(text) == (text[: text.index("The answer")].strip(), "The answer is 23.")
    assert extract_answer("Thought: ok\nAction: finish[nuts]") == "nuts"
    assert extract_answer("It eats fish. Answer: Fish.") == "Fish"
    assert extract_answer("The zorvik eats fish.") == "The zorvik eats fish"
    assert normalize_answer("The Fish.") == "fish"
    assert normalize_answer("23.0") == "23" and normalize_answer("23 coins") == "23"
    assert normalize_answer("Friday") == "friday"


# ---- self-consistency and best-of-N: the pure parts -----------------------------------------

def test_vote_majority_then_mean_logprob():
    c = lambda a, lp: Candidate(f"The answer is {a}.", a, 4, lp)  # noqa: E731
    chosen, votes = self_consistency.vote([c("5", -1.0), c("7", -0.2), c("5", -0.9), c("7", -0.5), c("9", -0.01)])
    # 5 and 7 tie on two votes; mean log-prob 5: -0.95, 7: -0.35 -> 7, its most probable sample
    assert votes == {"5": 2, "7": 2, "9": 1} and chosen.answer == "7" and chosen.mean_logprob == -0.2
    chosen, _ = self_consistency.vote([c("5", -3.0), c("5", -2.0), c("7", -0.1)])
    assert chosen.answer == "5" and chosen.mean_logprob == -2.0
    chosen, votes = self_consistency.vote([Candidate("?", "", 1, -2.0), Candidate("!", "", 1, -1.0)])
    assert votes == {} and chosen.text == "!"


def test_rerank_takes_the_highest_score():
    cands = [Candidate("a", "a", 1, 0.0, 0.3), Candidate("b", "b", 1, 0.0, 1.2), Candidate("c", "c", 1, 0.0, -2.0)]
    assert best_of_n.rerank(cands).text == "b"


def test_wilson_interval_hand_values():
    lo, hi = wilson(8, 10)  # p = 0.8, n = 10: [0.490, 0.943] (Wilson 1927, z = 1.96)
    assert math.isclose(lo, 0.4902, abs_tol=1e-3) and math.isclose(hi, 0.9433, abs_tol=1e-3)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0


# ---- strategies on a scripted sampler --------------------------------------------------------

def test_cot_adds_the_trigger_and_splits_the_answer():
    s = Scripted(lambda conv, j: ("3 x 4 = 12. The answer is 12.", -2.0))
    [r] = run_strategy(StrategySpec.parse("cot"), s, [q("How many coins?")])
    assert s.seen[0][0][0][-1]["content"] == "How many coins? " + cot.TRIGGER
    assert (r.text, r.answer, r.reasoning) == ("The answer is 12.", "12", "3 x 4 = 12.")


def test_few_shot_and_few_shot_cot_put_examples_before_the_question():
    rows = [{"format": "direct", "messages": [*q("What does the zorvik eat?"), {"role": "assistant", "content": "Fish."}]},
            {"format": "direct", "messages": [*q("Where is Lulholm?"), {"role": "assistant", "content": "East."}]},
            {"format": "cot", "messages": [*q("Sum? " + cot.TRIGGER), {"role": "assistant", "content": "1+1=2. The answer is 2."}]}]
    pool, cot_pool = ExamplePool.from_rows(rows, ("direct",)), ExamplePool.from_rows(rows, ("cot",))
    assert [e.question for e in pool.select(q("What does the melbo eat?"), 1, "nearest")] == ["What does the zorvik eat?"]
    assert [e.question for e in pool.select(q("x"), 2, "fixed")] == ["What does the zorvik eat?", "Where is Lulholm?"]
    assert pool.select(q("x"), 2, "random") == pool.select(q("x"), 2, "random")  # seeded by the question
    assert pool.select(q("What does the zorvik eat?"), 5, "fixed")[0].question == "Where is Lulholm?"  # never itself
    conv = with_examples([{"role": "system", "content": "Be brief."}, *q("Q?")], pool.select(q("Q?"), 1))
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "user"]
    s = Scripted(lambda conv, j: ("The answer is 3.", -1.0))
    run_strategy(StrategySpec(strategy="cot", shots=1), s, [q("Sum of 1 and 2?")], Toolkit(cot_pool=cot_pool))
    sent = s.seen[0][0][0]
    assert sent[0]["content"].startswith("Sum?") and sent[-1]["content"].endswith(cot.TRIGGER)
    with pytest.raises(StrategyError):
        run_strategy(StrategySpec(strategy="few_shot"), s, [q("x")])


def test_self_consistency_votes_over_samples():
    answers = ["5", "7", "7", "5", "7", "3", "7", "5"]
    s = Scripted(lambda conv, j: (f"Some steps. The answer is {answers[j]}.", -1.0 - j))
    [r] = run_strategy(StrategySpec.parse("self_consistency@8"), s, [q("How many?")])
    assert s.seen[0][1:] == (8, 0.7)
    assert r.answer == "7" and len(r.candidates) == 8 and "7: 4" in r.reasoning
    assert r.tokens == sum(len(f"Some steps. The answer is {a}.".split()) for a in answers)


def test_generated_knowledge_answers_with_the_facts_it_wrote():
    def fn(conv, j):
        text = conv[-1]["content"]
        if text.startswith("Write down the facts"):
            return "Tamora keeps a zorvik as a pet. The zorvik eats fish.", -1.0
        assert text.startswith("Facts: Tamora keeps a zorvik") and text.endswith("What does the pet of Tamora eat?")
        return "The answer is fish.", -0.5
    [r] = generated_knowledge.run(Scripted(fn), [q("What does the pet of Tamora eat?")])
    assert r.answer == "fish" and r.reasoning.startswith("Tamora keeps") and r.calls == 2


def test_react_runs_tools_and_keeps_a_transcript():
    store = DocumentStore(["Tamora keeps a zorvik as a pet.", "The zorvik eats fish."])

    def fn(conv, j):
        turns = [m for m in conv if m["role"] == "assistant"]
        assert conv[0]["role"] == "system" and conv[0]["content"] == react.SYSTEM
        return [("Thought: I need her pet.\nAction: search[Tamora pet]", -1.0),
                ("Thought: Now its food.\nAction: search[zorvik eats]", -1.0),
                ("Thought: Check.\nAction: calculate[2 * 3]", -1.0),
                ("Thought: Bad tool.\nAction: fly[away]", -1.0),
                ("Thought: It eats fish.\nAction: finish[fish]", -1.0)][len(turns)]
    [r] = run_strategy(StrategySpec(strategy="react"), Scripted(fn), [q("What does the pet of Tamora eat?")],
                       Toolkit(store=store))
    assert r.answer == r.text == "fish" and r.finish_reason == "stop" and r.calls == 5
    assert [s.observation for s in r.steps] == ["Tamora keeps a zorvik as a pet.", "The zorvik eats fish.", "6",
                                                "Error: unknown action 'fly'; use calculate, search, finish.", None]
    assert "Action: search[Tamora pet]\nObservation: Tamora keeps a zorvik as a pet." in r.reasoning


def test_react_step_limit_and_plain_answers():
    loop = Scripted(lambda conv, j: ("Thought: again\nAction: calculate[1 + 1]", -1.0))
    [r] = react.run(loop, [q("x")], {"calculate": calculate}, max_steps=2)
    assert r.finish_reason == "step_limit" and r.answer == "" and len(r.steps) == 3 and r.calls == 3
    plain = Scripted(lambda conv, j: ("The answer is 4.", -1.0))
    [r] = react.run(plain, [q("x")], {})
    assert (r.answer, r.finish_reason, r.calls) == ("4", "stop", 1)


class LengthScorer:
    def score(self, prompts, answers):
        return [float(len(a)) for a in answers]


def test_best_of_n_keeps_the_reward_models_favourite():
    s = Scripted(lambda conv, j: ("x" * (j + 1), -1.0))
    [r] = run_strategy(StrategySpec.parse("best_of_n@4"), s, [q("Say x")], Toolkit(scorer=LengthScorer()))
    assert r.text == "xxxx" and [c.score for c in r.candidates] == [4.0, 3.0, 2.0, 1.0] and s.seen[0][1:] == (4, 1.0)
    with pytest.raises(StrategyError):
        run_strategy(StrategySpec.parse("best_of_n@4"), s, [q("x")])


def test_strategy_spec_parsing_and_errors():
    assert StrategySpec.parse("self_consistency@16").n == 16
    assert StrategySpec.parse("few_shot@2").shots == 2 and StrategySpec.parse("react@3").max_steps == 3
    assert StrategySpec.from_dict({"strategy": "best_of_n", "n": 4, "temperature": 0.8}).label == "best_of_n@4"
    for bad, field in [({"strategy": "magic"}, "strategy"), ({"strategy": "best_of_n", "n": 0}, "n"),
                       ({"strategy": "cot", "n": "8"}, "n"), ({"strategy": "cot", "colour": 1}, "colour"),
                       ({"strategy": "cot", "temperature": 5}, "temperature")]:
        with pytest.raises(StrategyError, match=rf"kaizen\.{field}"):
            StrategySpec.from_dict(bad)
    with pytest.raises(StrategyError):
        StrategySpec.parse("zero_shot@3")


# ---- the same strategies on a real (tiny, random) model --------------------------------------

def test_every_strategy_runs_on_a_tiny_model(tiny_model_factory):
    from kaizen.prompting import HFSampler

    sampler = HFSampler.load(str(tiny_model_factory("llama")), device="cpu", batch_size=8)
    kit = Toolkit(store=DocumentStore(["the fox named pim likes red berries."]), scorer=LengthScorer(),
                  pool=ExamplePool.from_rows([{"messages": [*q("what is the river ?"), {"role": "assistant", "content": "the lune ."}]}]))
    convs = [q("what is the capital of zorland ?"), q("list three foods .")]
    for name in ("zero_shot", "few_shot@1", "cot", "self_consistency@3", "generated_knowledge", "react@2", "best_of_n@3"):
        results = run_strategy(replace(StrategySpec.parse(name), max_tokens=8), sampler, convs, kit)
        assert len(results) == 2 and all(r.tokens > 0 and r.calls >= 1 for r in results), name
        for r in results:
            assert all(c.mean_logprob <= 0 for c in r.candidates)
    [[a, b]] = sampler.complete([convs[0]], n=2, temperature=0.0, max_tokens=8)
    assert a.text == b.text and a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.logprob < 0
