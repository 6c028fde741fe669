"""The offline demo world: a fictional knowledge base, a pretraining corpus, InstructGPT-style
prompts, demonstrations, a gold judge and simulated ranking labelers, generated from one seed.

    kaizen data demo-world --out runs/world
    world = DemoWorld.load("runs/world")

See docs/demo-world.md.
"""

from kaizen.world.build import build_world
from kaizen.world.config import WorldConfig
from kaizen.world.judge import GoldJudgement
from kaizen.world.prompts import PromptItem
from kaizen.world.world import DemoWorld

__all__ = ["DemoWorld", "GoldJudgement", "PromptItem", "WorldConfig", "build_world"]
