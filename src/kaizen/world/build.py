"""``kaizen data demo-world``: write the offline demo world to a directory.

    kaizen data demo-world --out runs/world --seed 0

Files (see docs/demo-world.md): world.json, corpus_{train,heldout}.jsonl ({"text"}),
prompts_{train,heldout}.jsonl ({"id", "task", "prompt", "meta"}), sft_{train,heldout}.jsonl
({"id", "messages"}). Every random choice comes from a stream seeded by ``seed`` and a fixed
name, so the same seed gives byte-identical files and a new knob does not shift other streams.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from kaizen.config import parse_config, to_dict
from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import Demonstration, Message
from kaizen.world.config import WorldConfig
from kaizen.world.corpus import CorpusWriter
from kaizen.world.knowledge import KINDS, KnowledgeBase
from kaizen.world.prompts import TASKS, PromptMaker, brainstorm_keys, conversation_key, make_prompts
from kaizen.world.world import DemoWorld

AGREEMENT_ITEMS, AGREEMENT_K = 400, 4


def _rng(cfg: WorldConfig, stream: str) -> random.Random:
    return random.Random(f"{cfg.seed}:{stream}")


def choose_demo_entities(kb: KnowledgeBase, fraction: float, rng: random.Random) -> list[str]:
    """The train entities demonstrations may name: ``fraction`` of each kind (at least two)."""
    chosen: list[str] = []
    for kind in KINDS:
        keys = sorted(e.key for e in kb.of_kind(kind, "train"))
        chosen += rng.sample(keys, max(2, round(fraction * len(keys))))
    return sorted(chosen)


def build_world(cfg: WorldConfig) -> Path:
    """Generate every file of the world into ``cfg.out`` and return that directory."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    kb = KnowledgeBase.generate(cfg.n_entities, cfg.heldout_entity_fraction, _rng(cfg, "kb"))
    keys = brainstorm_keys(kb, _rng(cfg, "brainstorm-keys"))
    sizes = {"train": cfg.train_prompts, "heldout": cfg.heldout_prompts}
    prompts = {split: make_prompts(kb, split, n, cfg.harmful_prompt_fraction, keys[split],
                                   _rng(cfg, f"prompts:{split}")) for split, n in sizes.items()}
    overlap = {conversation_key(p.messages) for p in prompts["train"]} & {
        conversation_key(p.messages) for p in prompts["heldout"]}
    assert not overlap, f"{len(overlap)} prompts are in both splits"
    world = DemoWorld(kb, cfg, prompts)
    stats: dict = {"entities": Counter(e.kind for e in kb.entities),
                   "heldout_entities": sum(e.heldout for e in kb.entities)}

    seen: set[str] = set()  # held-out documents are distinct from train ones and from each other
    for split, n in (("train", cfg.corpus_docs), ("heldout", cfg.corpus_heldout_docs)):
        rng = _rng(cfg, f"corpus:{split}")
        # instruction documents come from a train-split maker: no held-out prompt is ever in a corpus
        corpus = CorpusWriter(kb, world.writer, PromptMaker(kb, "train", keys["train"], rng), rng)
        docs, kinds = [], Counter()
        for kind, text in corpus.documents(2 * n, cfg.rude_fraction, cfg.harmful_fraction, cfg.misinformation_fraction):
            if split == "heldout" and text in seen:
                continue
            seen.add(text)
            docs.append({"text": text})
            kinds[kind] += 1
            if len(docs) == n:
                break
        write_jsonl(out / f"corpus_{split}.jsonl", docs)
        stats[f"corpus_{split}"] = dict(sorted(kinds.items()))

    demonstrated = dict(prompts)  # split -> the prompts its sft_<split>.jsonl demonstrates
    demo_entities: list[str] = []
    if cfg.demo_entity_fraction < 1.0:
        demo_entities = choose_demo_entities(kb, cfg.demo_entity_fraction, _rng(cfg, "demo-entities"))
        demonstrated["train"] = make_prompts(kb, "train", cfg.demo_prompts, cfg.harmful_prompt_fraction, keys["train"],
                                             _rng(cfg, "prompts:demo"), frozenset(demo_entities), id_prefix="demo")
        write_jsonl(out / "prompts_demo.jsonl", (p.to_dict() for p in demonstrated["train"]))
        stats["prompts_demo"] = {t: sum(p.task == t for p in demonstrated["train"]) for t in TASKS}
    for split, items in prompts.items():
        write_jsonl(out / f"prompts_{split}.jsonl", (p.to_dict() for p in items))
        stats[f"prompts_{split}"] = {t: sum(p.task == t for p in items) for t in TASKS}
    for split, items in demonstrated.items():
        demos = [Demonstration([*p.messages, Message("assistant", world.demonstrate(p, _rng(cfg, f"demo:{p.id}")))],
                               id=p.id).to_dict() for p in items]
        write_jsonl(out / f"sft_{split}.jsonl", demos)

    stats["labeler_agreement"] = round(world.measure_agreement(AGREEMENT_ITEMS, AGREEMENT_K, _rng(cfg, "agreement")), 4)
    stats["brainstorm_keys"] = {split: len(k) for split, k in keys.items()}
    if demo_entities:
        stats["demo_entities"] = len(demo_entities)
    world_json = {"version": 1, "config": to_dict(cfg), "entities": kb.to_dict(),
                  **({"demo_entities": demo_entities} if demo_entities else {}),
                  "brainstorm_keys": {s: [list(k) for k in ks] for s, ks in keys.items()}, "stats": stats}
    (out / "world.json").write_text(json.dumps(world_json, indent=1, ensure_ascii=False) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(WorldConfig, argv if argv is not None else sys.argv[1:], prog="kaizen data demo-world")
    start = time.perf_counter()
    out = build_world(cfg)
    seconds = time.perf_counter() - start
    stats = json.loads((out / "world.json").read_text())["stats"]
    print(f"demo world (seed {cfg.seed}) written to {out}/ in {seconds:.1f}s")
    for path in sorted(out.glob("*.json*")):
        rows = sum(1 for _ in path.open()) if path.suffix == ".jsonl" else 1
        print(f"  {path.name:<22} {path.stat().st_size / 1e6:6.2f} MB  {rows:>6} rows")
    print("  entities: " + ", ".join(f"{k} {v}" for k, v in stats["entities"].items())
          + f" ({stats['heldout_entities']} held out)")
    for split in ("train", "heldout"):
        print(f"  prompts_{split}: " + ", ".join(f"{t} {n}" for t, n in stats[f"prompts_{split}"].items()))
    print("  corpus_train: " + ", ".join(f"{k} {v}" for k, v in stats["corpus_train"].items()))
    print(f"  simulated labelers: {cfg.n_labelers}, measured pairwise agreement {stats['labeler_agreement']:.1%} "
          f"(InstructGPT: 72.6%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
