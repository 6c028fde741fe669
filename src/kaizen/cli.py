"""The ``kaizen`` command: one subcommand per stage, each owned by its module's ``main(argv)``.

    kaizen data demo-world --out runs/world      # the offline demo world
    kaizen pretrain --config configs/pretrain.yaml
    kaizen sft --model Qwen/Qwen2.5-0.5B --data my_demos.jsonl --out runs/sft
    kaizen demo --out demo-out                   # the whole loop on the demo world
"""

from __future__ import annotations

import importlib
import os
import sys

from kaizen import __version__

# command -> (module, one-line description). Modules are imported lazily: `kaizen --help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("kaizen.data.cli", "validate / convert data files, build the demo world"),
    "pretrain": ("kaizen.pretrain", "Step 0: train a tokenizer and a decoder-only LM from scratch"),
    "sft": ("kaizen.sft", "Step 1: supervised fine-tuning on demonstrations"),
    "rank": ("kaizen.rank", "sample K answers per prompt and collect rankings"),
    "rm": ("kaizen.reward", "Step 2: reward model from K-way rankings"),
    "ppo": ("kaizen.ppo", "Step 3: PPO with KL penalty and pretraining mix (PPO-ptx)"),
    "dpo": ("kaizen.dpo", "direct preference optimisation from rankings"),
    "loop": ("kaizen.loop", "repeat rank -> RM -> PPO for N rounds"),
    "eval": ("kaizen.eval.stage", "compare any models on any prompts: win rates by gold, RM, LLM or human judges"),
    "serve": ("kaizen.serve.cli", "OpenAI-compatible API, chat and labeling UI"),
    "export": ("kaizen.serve.export", "turn collected feedback into training data"),
    "plot": ("kaizen.plot", "render PNG curves of a run's metrics"),
    "registry": ("kaizen.registry", "list, add and promote model versions (lineage, gate, status)"),
    "demo": ("kaizen.demo", "run the loop end to end on the offline demo world"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"kaizen {__version__}: build your own ChatGPT and keep improving it", "", "usage: kaizen COMMAND [options]", ""]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Run `kaizen COMMAND --help` for a command's options."]
    return "\n".join(lines)


def _quiet_libraries() -> None:
    """Kaizen prints its own progress; library load reports and per-file bars only bury it."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"kaizen: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    _quiet_libraries()
    module = importlib.import_module(COMMANDS[name][0])
    from kaizen.config import ConfigError
    from kaizen.data.errors import DataError

    try:
        return int(module.main(rest) or 0)
    except (ConfigError, DataError) as e:
        print(f"kaizen {name}: error: {e}", file=sys.stderr)
        return 2
