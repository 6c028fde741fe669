"""How much can RLHF buy on the demo world? Ceilings of the reward model and of the SFT policy.

    .venv/bin/python bench/rm_headroom.py --run demo-out --n 8

Reads a finished ``kaizen demo`` directory and reports, on its data:

- the ranking data: inter-labeler agreement on the ranked answers themselves (another
  simulated labeler re-ranks each stored ranking), the share of pairs the gold judge scores as equal,
  and the pairwise accuracy the noise-free gold judge itself reaches against the stored rankings
  (the ceiling of any RM's held-out accuracy);
- the RM against the gold judge, per kind of difference (harmless, truthful, helpful), on the
  ranking pairs whose gold scores differ;
- best-of-n on held-out prompts: n answers sampled from SFT (temperature 1), the one the RM
  likes best vs the one the gold judge likes best, each against SFT's greedy answer by the gold
  judge (the evaluation's win rate). A policy that the RM steers cannot beat what the RM picks
  out of SFT's own samples by much at a few nats of KL; the gold pick bounds what any RM could.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import defaultdict
from pathlib import Path

from kaizen.generation import SamplingParams, chat_prompt, generate
from kaizen.models.loading import load_causal_lm, load_tokenizer
from kaizen.reward import load_reward_model
from kaizen.world import DemoWorld


def ranking_ceilings(world: DemoWorld, rows: list[dict], rm, seed: int) -> dict:
    rng, labelers = random.Random(seed), world.labelers()
    agree = pairs = gold_ties = gold_right = 0
    rm_right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        prompt, answers = world.find_prompt(row["prompt"]), row["answers"]
        gold = [world.gold(prompt, a) for a in answers]
        # The stored ranking is what RM accuracy is measured against; one other labeler re-ranks
        # the same answers for the agreement.
        ra = row["ranks"]
        second = rng.choice([lab for lab in labelers if lab.name != row.get("labeler")])
        rb = second.rank(prompt, answers, rng).ranks
        scores = rm.score([row["prompt"]] * len(answers), answers)
        for i, j in itertools.combinations(range(len(answers)), 2):
            if answers[i].strip() == answers[j].strip() or ra[i] == ra[j] or rb[i] == rb[j]:
                continue
            pairs += 1
            agree += (ra[i] < ra[j]) == (rb[i] < rb[j])
            if gold[i].score == gold[j].score:
                gold_ties += 1
                continue
            gold_right += (gold[i].score > gold[j].score) == (ra[i] < ra[j])
            hi, lo = (i, j) if gold[i].score > gold[j].score else (j, i)
            kind = ("harmless" if gold[hi].harmless != gold[lo].harmless else
                    "truthful" if (gold[hi].truthful and gold[hi].engaged) != (gold[lo].truthful and gold[lo].engaged)
                    else "helpful")
            rm_right[kind][0] += scores[hi] > scores[lo]
            rm_right[kind][1] += 1
    return {"pairs": pairs, "inter_labeler_agreement": agree / pairs, "gold_tie_share": gold_ties / pairs,
            "gold_vs_labeler_accuracy": (gold_right + 0.5 * gold_ties) / pairs,
            "rm_vs_gold_accuracy": {k: round(r / t, 3) for k, (r, t) in sorted(rm_right.items())},
            "rm_vs_gold_pairs": {k: t for k, (_, t) in sorted(rm_right.items())}}


def best_of_n(world: DemoWorld, sft_dir: str, rm, n: int, num_prompts: int, seed: int) -> dict:
    prompts = world.prompts("heldout")[:num_prompts]
    tok, model = load_tokenizer(sft_dir), load_causal_lm(sft_dir)
    texts = [chat_prompt(tok, p.messages) for p in prompts]
    greedy = [g.text for g in generate(model, tok, texts, SamplingParams(greedy=True))]
    samples = [[g.text for g in generate(model, tok, texts, SamplingParams(), seed=seed + k)] for k in range(n)]

    def win_rate(picks: list[str]) -> float:
        return sum(world.gold_compare(p, a, g) for p, a, g in zip(prompts, picks, greedy)) / len(prompts)

    out = {}
    for k in sorted({1, 2, 4, n}):
        cands = [[samples[j][i] for j in range(k)] for i in range(len(prompts))]
        rm_scores = [rm.score([p.messages] * k, c) for p, c in zip(prompts, cands)]
        by_rm = [c[max(range(k), key=s.__getitem__)] for c, s in zip(cands, rm_scores)]
        by_gold = [max(c, key=lambda a, p=p: world.gold(p, a).score) for p, c in zip(prompts, cands)]
        out[f"n={k}"] = {"rm_pick_win_rate": round(win_rate(by_rm), 3), "gold_pick_win_rate": round(win_rate(by_gold), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="demo-out", help="A finished `kaizen demo` directory.")
    ap.add_argument("--n", type=int, default=8, help="Largest n of best-of-n.")
    ap.add_argument("--num_prompts", type=int, default=200, help="Held-out prompts for best-of-n.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="Write the report here as JSON too.")
    args = ap.parse_args()
    run = Path(args.run)
    world = DemoWorld.load(run / "world")
    rm = load_reward_model(run / "rm" / "model")
    rows = [json.loads(line) for line in (run / "rank" / "rankings.jsonl").read_text().splitlines() if line.strip()]
    report = {"rankings": ranking_ceilings(world, rows, rm, args.seed),
              "best_of_n_vs_sft_greedy": best_of_n(world, str(run / "sft" / "model"), rm, args.n, args.num_prompts, args.seed)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
