"""Reasoning and look-up tasks about the demo world, additive to it (``kaizen data reasoning-world``).

    kaizen data reasoning-world --world runs/world
    tasks = ReasoningTasks("runs/world")
    item = tasks.prompts("heldout", "arithmetic")[0]
    tasks.check(item, "The answer is 23.")

A subpackage, not a module of ``kaizen.world``, on purpose: the world's name generator avoids
every word in ``kaizen/world/*.py`` (``knowledge._template_words``), so one more file there would
change the names, and so the bytes, of every existing world. See ``tasks`` and ``build``.
"""

from kaizen.world.reasoning.build import ReasoningConfig, ReasoningTasks, build_reasoning
from kaizen.world.reasoning.tasks import FAMILIES, check

__all__ = ["FAMILIES", "ReasoningConfig", "ReasoningTasks", "build_reasoning", "check"]
