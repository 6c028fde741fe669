"""``WorldConfig``: the knobs of the offline demo world (and the flags of ``kaizen data demo-world``)."""

from __future__ import annotations

from dataclasses import dataclass

from kaizen.config import ConfigError, arg


@dataclass(frozen=True)
class WorldConfig:
    """Build the offline demo world: a fictional knowledge base, a pretraining corpus, prompts,
    demonstrations, a gold judge and simulated labelers, all from one seed."""

    seed: int = arg(0, "Random seed; the same seed gives byte-identical files.")
    out: str = arg("runs/world", "Output directory.")
    n_entities: int = arg(100, "Fictional entities in the knowledge base (creatures, plants, towns, people).")
    heldout_entity_fraction: float = arg(
        0.2, "Share of entities whose facts appear only in held-out prompts (still stated in the corpus).")
    corpus_docs: int = arg(11000, "Pretraining documents in corpus_train.jsonl (11000 is about 2 MB of text).")
    corpus_heldout_docs: int = arg(500, "Documents in corpus_heldout.jsonl (same distribution, disjoint).")
    rude_fraction: float = arg(0.08, "Share of corpus documents that are rude replies (web text has them).")
    harmful_fraction: float = arg(0.08, "Share of corpus documents that comply with harmful (fictional) requests.")
    misinformation_fraction: float = arg(0.03, "Share of corpus documents that state false facts.")
    train_prompts: int = arg(1200, "Prompts in prompts_train.jsonl: what ranking and PPO draw from (and, with "
                                   "demo_entity_fraction 1, what sft_train.jsonl demonstrates).")
    demo_entity_fraction: float = arg(
        1.0, "Share of the train entities that demonstrations may name. Below 1, sft_train.jsonl demonstrates "
             "demo_prompts separate prompts (prompts_demo.jsonl) about those entities only, while ranking and PPO "
             "prompts cover every train entity: demonstrations are the scarce resource (InstructGPT: 13k "
             "demonstrations, 33k ranked and 31k PPO prompts), so RL meets what SFT never saw.")
    demo_prompts: int = arg(1200, "Demonstrations written when demo_entity_fraction < 1.")
    heldout_prompts: int = arg(200, "Prompts in prompts_heldout.jsonl, about entities or combinations never "
                                    "asked in train.")
    harmful_prompt_fraction: float = arg(0.10, "Share of prompts that request harm and should be refused.")
    n_labelers: int = arg(5, "Simulated ranking labelers.")
    labeler_noise: float = arg(1.5, "Std of each labeler's noise on an answer's perceived quality (gold score "
                                    "units, where helpfulness spans 0..1). 1.5 gives an inter-labeler agreement "
                                    "of about 0.73.")
    labeler_slip: float = arg(0.10, "Chance a labeler misses a false claim (and, halved, a harmful answer).")
    demo_error_rate: float = arg(0.02, "Chance the demonstration writer makes a mistake in a demonstration.")

    def __post_init__(self) -> None:
        fractions = ("heldout_entity_fraction", "demo_entity_fraction", "rude_fraction", "harmful_fraction", "misinformation_fraction",
                     "harmful_prompt_fraction", "labeler_slip", "demo_error_rate")
        for name in fractions:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"config key '{name}': {getattr(self, name)} is not in [0, 1]")
        if self.rude_fraction + self.harmful_fraction + self.misinformation_fraction > 1.0:
            raise ConfigError("rude_fraction + harmful_fraction + misinformation_fraction must not exceed 1")
        if min(self.train_prompts, self.heldout_prompts, self.demo_prompts) < 36:  # 4 per task, so every task is in both splits
            raise ConfigError("train_prompts, heldout_prompts and demo_prompts must each be at least 36")
        if self.n_entities < 12 or self.n_labelers < 2 or self.labeler_noise < 0:
            raise ConfigError("the world needs n_entities >= 12, n_labelers >= 2 and labeler_noise >= 0")
