"""The RM-steering figures of the demo, on hand-made rankings with known answers."""

from kaizen.data.records import Judgement, Message, Ranking
from kaizen.eval.steering import accuracy_three_ways, best_of_n

PROMPT = [Message("user", "q")]


def test_accuracy_three_ways_by_hand():
    # Labeler: a > b > c. Gold: a = b > c (gold has no preference between a and b).
    # RM: b > a > c. Strict labeler pairs: (a,b), (a,c), (b,c).
    r = Ranking(PROMPT, ["a", "b", "c"], [1, 2, 3],
                judgements=[Judgement(7, True, True), Judgement(5, True, True), Judgement(5, False, True)])
    acc = accuracy_three_ways([r], [[1.0, 2.0, 0.0]], [[3.0, 3.0, 1.0]])
    # RM vs labelers: (a,b) wrong, (a,c) right, (b,c) right -> 2/3.
    assert acc["pairs"] == 3 and abs(acc["vs_labelers"] - 2 / 3) < 1e-12
    # Gold strict pairs: (a,c), (b,c); RM agrees on both.
    assert acc["gold_pairs"] == 2 and acc["vs_gold"] == 1.0
    # Gold vs labelers on the 3 pairs: the gold tie (a,b) counts 1/2 -> 2.5/3.
    assert abs(acc["ceiling"] - 2.5 / 3) < 1e-12
    # helpful differs on (a,b) and (a,c); truthful on (a,c) and (b,c); harmless on none.
    h = acc["per_criterion"]["helpful"]
    assert h["pairs"] == 2 and h["vs_labelers"] == 0.5 and h["gold_pairs"] == 1 and h["ceiling"] == 0.75
    t = acc["per_criterion"]["truthful"]
    assert t["pairs"] == 2 and t["vs_labelers"] == 1.0 and t["vs_gold"] == 1.0
    assert acc["per_criterion"]["harmless"] == {"vs_labelers": None, "vs_gold": None, "ceiling": None,
                                               "pairs": 0, "gold_pairs": 0}


def test_rankings_with_ties_only_give_no_pairs():
    r = Ranking(PROMPT, ["a", "b"], [1, 1])
    acc = accuracy_three_ways([r], [[0.0, 1.0]], [[0.0, 1.0]])
    assert acc["pairs"] == 0 and acc["vs_labelers"] is None


def test_best_of_n_by_hand():
    # Prompt 1: RM picks sample 0 (gold 2 > greedy 1: win); gold picks sample 1 (gold 5: win).
    # Prompt 2: RM picks sample 1 (gold 0 < greedy 3: loss); gold picks sample 0 (gold 3 = greedy: tie).
    out = best_of_n([[9.0, 1.0], [0.0, 4.0]], [[2.0, 5.0], [3.0, 0.0]], [1.0, 3.0])
    assert out["n"] == 2 and out["prompts"] == 2
    assert out["rm_pick_win"] == 0.5 and out["gold_pick_win"] == 0.75
    assert 0.0 <= out["random_pick_win"] <= 1.0 and len(out["rm_pick_ci95"]) == 2
