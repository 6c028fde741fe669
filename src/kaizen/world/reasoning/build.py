"""``kaizen data reasoning-world``: reasoning and look-up tasks, written beside an existing demo world.

    kaizen data demo-world --out runs/world
    kaizen data reasoning-world --world runs/world

Adds files and touches none of the world's own (they stay byte-identical for the seed):

| file | what |
|---|---|
| ``reasoning.json`` | config, the market-price ledger, stats |
| ``prompts_reasoning_{train,heldout}.jsonl`` | ``{"id", "task", "prompt", "meta"}`` like the world's prompts; ``task`` is the family, ``meta.answer`` the gold answer |
| ``sft_reasoning.jsonl`` | ``{"id", "format", "messages"}`` demonstrations of the train prompts: ``direct``, ``cot``, ``react``, ``knowledge`` |
| ``store_reasoning.jsonl`` | ``{"text"}`` market-price notices; with ``corpus_train.jsonl`` the document store ReAct searches |
| ``corpus_reasoning.jsonl`` | ``{"text"}`` pretraining documents of plain arithmetic (``kaizen.world.reasoning.arithmetic``), nothing about the world |

Held-out items ask about combinations no train item asks about: new number combinations, town
pairs and person-attribute chains, every chain through a held-out entity of the world, and
prices of (town, good) pairs no train demonstration mentions.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from kaizen.config import arg, from_dict, parse_config, to_dict
from kaizen.data.jsonl import read_jsonl, write_jsonl
from kaizen.world.knowledge import KnowledgeBase
from kaizen.world.prompts import PromptItem, conversation_key
from kaizen.world.reasoning import tasks as T
from kaizen.world.reasoning.arithmetic import arithmetic_documents

STORE_FILES = ("corpus_train.jsonl", "store_reasoning.jsonl")


@dataclass(frozen=True)
class ReasoningConfig:
    """Reasoning and look-up tasks for the demo world (additive files beside it)."""

    world: str = arg("runs/world", "Demo world directory (written by `kaizen data demo-world`); files are added to it.")
    train_arithmetic: int = arg(600, "Train items of the arithmetic family (market totals, days between markets).")
    train_multihop: int = arg(450, "Train items of the multi-hop family (pet, home town, job-of-town chains).")
    train_lookup: int = arg(250, "Train items of the look-up family (market prices, found by search).")
    heldout_arithmetic: int = arg(200, "Held-out arithmetic items.")
    heldout_multihop: int = arg(150, "Held-out multi-hop items.")
    heldout_lookup: int = arg(120, "Held-out look-up items.")
    max_quantity: int = arg(4, "Largest quantity in a purchase (from 2).")
    max_price: int = arg(6, "Largest price in coins (from 2), in questions and in the ledger.")
    goods_per_town: int = arg(4, "Goods with a market price per town in the ledger.")
    heldout_fraction: float = arg(0.25, "Share of number combinations, town pairs, chains and prices held out.")
    formats_arithmetic: str = arg("direct:0.35,cot:0.45,react:0.2", "Demonstration formats of arithmetic items.")
    formats_multihop: str = arg("direct:0.3,cot:0.35,react:0.2,knowledge:0.15", "Demonstration formats of multi-hop items.")
    formats_lookup: str = arg("direct:0.3,react:0.7", "Demonstration formats of look-up items.")
    corpus_docs: int = arg(1500, "Pretraining documents of plain arithmetic (corpus_reasoning.jsonl): a model "
                                 "that never saw 4 x 6 = 24 cannot learn to reason about prices.")
    demos_multihop: int = arg(2, "Demonstrations per multi-hop train item, in different formats (the world has few "
                                 "distinct chains, so each is shown more than one way).")


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"{seed}:reasoning:{stream}")


def _formats(spec: str) -> list[tuple[str, float]]:
    out = []
    for part in spec.split(","):
        name, _, share = part.partition(":")
        if name not in ("direct", "cot", "react", "knowledge"):
            raise ValueError(f"format '{name}' is not one of direct, cot, react, knowledge")
        out.append((name, float(share)))
    return out


def _split_keys(keys: list, fraction: float, rng: random.Random, forced: set = frozenset()) -> dict[str, list]:
    """Each key to one split: the forced ones and a ``fraction`` of the rest held out."""
    keys = sorted(keys)
    rng.shuffle(keys)
    free = [k for k in keys if k not in forced]
    n_held = round(fraction * len(free))
    return {"heldout": [k for k in keys if k in forced] + free[:n_held], "train": free[n_held:]}


def make_items(kb: KnowledgeBase, ledger: T.Ledger, cfg: ReasoningConfig, seed: int) -> dict[str, list[PromptItem]]:
    qs, ps = range(2, cfg.max_quantity + 1), range(2, cfg.max_price + 1)
    goods = sorted(T.GOODS)
    combos = [(q1, p1, q2, p2) for q1 in qs for p1 in ps for q2 in qs for p2 in ps]
    towns = kb.of_kind("town")
    people = kb.of_kind("person")
    pairs = [(a.key, b.key) for a in towns for b in towns if a.key != b.key and a.attrs["day"] != b.attrs["day"]]
    held_town = {t.key for t in towns if t.heldout}
    jobs = Counter((p.attrs["job"], p.attrs["home"]) for p in people)
    chains = ([("pet_attr", p.key, a) for p in people for a in T.PET_QUESTIONS]
              + [("home_attr", p.key, a) for p in people for a in T.HOME_QUESTIONS]
              + [("job_town", p.key, a) for p in people for a in T.JOB_QUESTIONS
                 if jobs[(p.attrs["job"], p.attrs["home"])] == 1])

    def held_chain(c):
        p = kb.get(c[1])
        return p.heldout or kb.get(p.attrs["pet"]).heldout or kb.get(p.attrs["home"]).heldout
    split = {
        "combo": _split_keys(combos, cfg.heldout_fraction, _rng(seed, "split:combo")),
        "pair": _split_keys(pairs, cfg.heldout_fraction, _rng(seed, "split:pair"),
                            {p for p in pairs if p[0] in held_town or p[1] in held_town}),
        "chain": _split_keys(chains, cfg.heldout_fraction, _rng(seed, "split:chain"), {c for c in chains if held_chain(c)}),
        "price": _split_keys(list(ledger.prices), cfg.heldout_fraction, _rng(seed, "split:price"),
                             {k for k in ledger.prices if k[0] in held_town}),
    }
    counts = {"train": (cfg.train_arithmetic, cfg.train_multihop, cfg.train_lookup),
              "heldout": (cfg.heldout_arithmetic, cfg.heldout_multihop, cfg.heldout_lookup)}
    out: dict[str, list[PromptItem]] = {}
    for name in ("train", "heldout"):
        rng = _rng(seed, f"items:{name}")
        n_arith, n_multi, n_look = counts[name]
        makers = {
            "market_total": lambda: T.market_total(people, _goods_combo(rng.choice(split["combo"][name]), goods, rng), name, rng),
            "market_days": lambda: T.market_days(kb, *[kb.get(k) for k in rng.choice(split["pair"][name])], name, rng),
            "chain": lambda: _chain(kb, rng.choice(split["chain"][name]), name, rng),
            "price": lambda: T.price(kb, ledger, *rng.choice(split["price"][name]), None, name, rng),
            "price_total": lambda: T.price(kb, ledger, *rng.choice(split["price"][name]), rng.choice(list(qs)), name, rng),
        }
        plan = ([("market_total", round(n_arith * 2 / 3)), ("market_days", n_arith - round(n_arith * 2 / 3)),
                 ("chain", n_multi), ("price", round(n_look * 0.4)), ("price_total", n_look - round(n_look * 0.4))])
        items, seen = [], set()
        for maker, n in plan:
            made, tries = 0, 0
            while made < n and tries < 50 * n + 100:
                tries += 1
                messages, meta = makers[maker]()
                key = conversation_key(messages)
                if key in seen:
                    continue
                seen.add(key)
                items.append(PromptItem(f"reasoning-{name}-{len(items):05d}", meta["family"], messages, meta))
                made += 1
        out[name] = items
    return out


def _goods_combo(combo, goods, rng):
    g1, g2 = rng.sample(goods, 2)
    q1, p1, q2, p2 = combo
    return g1, q1, p1, g2, q2, p2


def _chain(kb, chain, split, rng):
    template, person, attr = chain
    return getattr(T, template)(kb, kb.get(person), attr, split, rng)


def demonstrate(writer: T.Demonstrator, items: list[PromptItem], cfg: ReasoningConfig,
                rng: random.Random) -> tuple[list[dict], Counter]:
    """SFT rows ``{"id", "format", "messages"}`` for ``items``, formats drawn by the config's shares."""
    formats = {"arithmetic": _formats(cfg.formats_arithmetic), "multihop": _formats(cfg.formats_multihop),
               "lookup": _formats(cfg.formats_lookup)}
    rows, made = [], Counter()
    for item in items:
        options = dict(formats[item.task])
        for _ in range(cfg.demos_multihop if item.task == "multihop" else 1):
            names, weights = zip(*options.items())
            fmt = rng.choices(names, weights)[0]
            options.pop(fmt) if len(options) > 1 else None
            if fmt == "knowledge" and item.meta["template"] == "job_town":
                fmt = "cot"
            convs = getattr(writer, fmt)(item) if fmt != "react" else writer.react(item)
            if convs is None:  # no search query finds the fact: demonstrate step by step instead
                fmt, convs = "cot", writer.cot(item)
            for j, conv in enumerate(convs):
                rows.append({"id": f"{item.id}-{fmt}{j}", "format": fmt, "messages": conv})
            made[f"{item.task}:{fmt}"] += 1
    return rows, made


def more_demonstrations(world: str | Path, scale: int) -> list[dict]:
    """``scale`` times as many train items as ``world``'s reasoning files have, demonstrated the same way.

    For a model that trains on the formats alone (``kaizen.prompting.reasoning_model``). The items
    are drawn from the same train split of combinations, pairs, chains and prices, so no held-out
    prompt is among them (checked here); the world's files are not touched."""
    from kaizen.prompting.tools import DocumentStore

    world = Path(world)
    tasks = ReasoningTasks(world)
    cfg, seed = tasks.config, int(json.loads((world / "reasoning.json").read_text())["seed"])
    kb = KnowledgeBase.from_dict(json.loads((world / "world.json").read_text())["entities"])
    bigger = replace(cfg, train_arithmetic=cfg.train_arithmetic * scale, train_multihop=cfg.train_multihop * scale,
                     train_lookup=cfg.train_lookup * scale)
    items = make_items(kb, tasks.ledger, bigger, seed)["train"]
    held = {conversation_key(p.messages) for p in tasks.prompts("heldout")}
    if any(conversation_key(p.messages) in held for p in items):
        raise AssertionError("a held-out reasoning prompt among the train items: the splits are broken")
    store = DocumentStore.from_files(tasks.store_files())
    rows, _ = demonstrate(T.Demonstrator(kb, tasks.ledger, store.search), items, bigger, _rng(seed, f"formats:x{scale}"))
    return rows


def build_reasoning(cfg: ReasoningConfig) -> Path:
    """Write the reasoning files into ``cfg.world`` and return it."""
    from kaizen.prompting.tools import DocumentStore

    world = Path(cfg.world)
    data = json.loads((world / "world.json").read_text())
    seed = int(data["config"]["seed"])
    kb = KnowledgeBase.from_dict(data["entities"])
    ledger = T.Ledger.generate(kb, cfg.goods_per_town, 2, cfg.max_price, _rng(seed, "ledger"))
    notices = [{"text": ledger.notice(kb, t, g)} for t, g in sorted(ledger.prices)]
    write_jsonl(world / "store_reasoning.jsonl", notices)
    write_jsonl(world / "corpus_reasoning.jsonl", arithmetic_documents(
        cfg.corpus_docs, sorted(T.GOODS.values()), T.DAYS, cfg.max_quantity, cfg.max_price, _rng(seed, "corpus")))
    items = make_items(kb, ledger, cfg, seed)
    store = DocumentStore.from_files([world / f for f in STORE_FILES])
    rows, made = demonstrate(T.Demonstrator(kb, ledger, store.search), items["train"], cfg, _rng(seed, "formats"))
    for split, its in items.items():
        write_jsonl(world / f"prompts_reasoning_{split}.jsonl", (p.to_dict() for p in its))
    write_jsonl(world / "sft_reasoning.jsonl", rows)
    stats = {"items": {s: dict(Counter(f"{p.task}:{p.meta['template']}" for p in its)) for s, its in items.items()},
             "demonstrations": dict(sorted(made.items())), "sft_rows": len(rows), "notices": len(notices)}
    (world / "reasoning.json").write_text(json.dumps({"version": 1, "config": {k: v for k, v in to_dict(cfg).items() if k != "world"}, "seed": seed,
                                                      "ledger": ledger.to_rows(), "stats": stats}, indent=1) + "\n")
    return world


class ReasoningTasks:
    """The reasoning items of a world directory and their checker."""

    def __init__(self, world: str | Path):
        self.world = Path(world)
        data = json.loads((self.world / "reasoning.json").read_text())
        self.config = from_dict(ReasoningConfig, data["config"], where=str(self.world / "reasoning.json"))
        self.ledger = T.Ledger.from_rows(data["ledger"])

    def prompts(self, split: str, family: str | None = None) -> list[PromptItem]:
        rows = read_jsonl(self.world / f"prompts_reasoning_{split}.jsonl")
        items = [PromptItem.from_dict(r) for _, r in rows]
        return [p for p in items if family is None or p.task == family]

    def check(self, item: PromptItem, answer: str) -> bool:
        return T.check(item, answer)

    def store_files(self) -> list[Path]:
        return [self.world / f for f in STORE_FILES]

    def sft_file(self) -> Path:
        return self.world / "sft_reasoning.jsonl"


def main(argv: list[str] | None = None) -> int:
    import time

    cfg = parse_config(ReasoningConfig, argv if argv is not None else sys.argv[1:], prog="kaizen data reasoning-world")
    start = time.perf_counter()
    world = build_reasoning(cfg)
    stats = json.loads((world / "reasoning.json").read_text())["stats"]
    print(f"reasoning tasks written to {world}/ in {time.perf_counter() - start:.1f}s")
    for split, counts in stats["items"].items():
        print(f"  prompts_reasoning_{split}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"  sft_reasoning: {stats['sft_rows']} rows: " + ", ".join(f"{k} {v}" for k, v in stats["demonstrations"].items()))
    print(f"  store_reasoning: {stats['notices']} market-price notices")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
