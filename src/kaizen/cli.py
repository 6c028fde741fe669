"""The ``kaizen`` command: one subcommand per stage, each owned by its module's ``main(argv)``.

    kaizen data demo-world --out runs/world      # the offline demo world
    kaizen pretrain --config configs/pretrain.yaml
    kaizen sft --model Qwen/Qwen2.5-0.5B --data my_demos.jsonl --out runs/sft
    kaizen demo --out demo-out                   # the whole loop on the demo world
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    "moderation": ("kaizen.safety.moderation", "train / evaluate a moderation classifier or the attack detector"),
    "redteam": ("kaizen.safety.redteam", "attack a model or URL, with and without defences; gate on the result"),
    "demo": ("kaizen.demo", "run the loop end to end on the offline demo world"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"kaizen {__version__}: build your own ChatGPT and keep improving it", "", "usage: kaizen COMMAND [options]", ""]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Run `kaizen COMMAND --help` for a command's options."]
    return "\n".join(lines)


def best_chat_model(results: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(name, report) of the chat model with the highest win rate against SFT; None if none has one.

    Few-shot base models are left out: they are not chat models and would be served as one.
    Ties go to the model listed first (the reference, SFT, comes first in the demo).
    """
    chat = [(n, r) for n, r in results.items() if isinstance(r, Mapping) and r.get("prompting", "chat") == "chat"
            and r.get("win_rate_vs_sft") is not None and r.get("path")]
    return max(chat, key=lambda item: item[1]["win_rate_vs_sft"]) if chat else None


def next_steps(results: Mapping[str, Any], out_dir: str | Path, port: int = 8000) -> str:
    """What to do after ``kaizen demo`` (or ``kaizen eval``): the exact commands to serve the best
    model of ``results`` (an evaluation report: model name -> metrics with ``path``), chat with it
    in a browser or with any OpenAI client, and turn the chat's feedback into the next round."""
    best = best_chat_model(results)
    if best is None:
        return "next: no chat model with a win rate in these results; serve one with `kaizen serve MODEL_DIR`"
    name, r = best
    path = shlex.quote(str(r["path"]))
    ci = r.get("ci95")
    score = f"win rate vs SFT {r['win_rate_vs_sft']:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and ci[1] > ci[0] else "")
    body = json.dumps({"model": str(r["path"]), "messages": [{"role": "user", "content": "Hello! What can you do?"}]})
    out = shlex.quote(str(out_dir))
    root = Path(out_dir)
    docs = [root / "world" / f for f in ("corpus_train.jsonl", "store_reasoning.jsonl") if (root / "world" / f).exists()]
    extras = (" \\\n      --prompting.documents " + " ".join(shlex.quote(str(d)) for d in docs)) if docs else ""
    others = [f"{n}={shlex.quote(str(m['path']))}" for n, m in results.items() if n != name and isinstance(m, Mapping)
              and m.get("prompting", "chat") == "chat" and m.get("path") and m.get("win_rate_vs_sft") is not None]
    if others:  # the chat's model picker then has every policy of the run beside the best one
        extras += " \\\n      --models " + " ".join(others)
    if (root / "rm" / "model").exists():  # the chat's strategy picker then offers ReAct and best-of-N too
        extras += " --prompting.reward_model " + shlex.quote(str(root / "rm" / "model"))
    return "\n".join([
        f"next: serve the best chat model, {name} ({score}):",
        f"  kaizen serve {path} --port {port}{extras}",
        f"  then chat at http://127.0.0.1:{port} (log in with the admin API key it prints on first start),",
        "  or through the OpenAI API (KAIZEN_KEY=that key; any OpenAI client works the same):",
        f"  curl http://127.0.0.1:{port}/v1/chat/completions -H \"Authorization: Bearer $KAIZEN_KEY\" \\",
        f"      -H 'Content-Type: application/json' -d {shlex.quote(body)}",
        "  the ratings and rankings people give become the next round's data:",
        "  kaizen export --db_url sqlite:///kaizen-serve.db --out feedback/",
        f"  kaizen loop --config configs/demo/loop.yaml --rounds 1 --sft_model {out}/sft/model --world {out}/world \\",
        f"      --ptx_data {out}/world/corpus_train.jsonl --extra_rankings feedback/rankings.jsonl --out runs/loop",
    ])


def _quiet_libraries() -> None:
    """Kaizen prints its own progress; library load reports and per-file bars only bury it."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also turns off transformers' own bars
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    # Read when transformers is first imported, so `kaizen STAGE --help` need not import it here.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:  # already imported (main called in-process): tell it directly
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
