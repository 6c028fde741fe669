"""The ``kaizen`` entry point: what it prints after a run, and how cheaply its help comes up."""

from __future__ import annotations

from kaizen.cli import best_chat_model, next_steps

RESULTS = {
    "sft": {"path": "demo-out/sft/model", "prompting": "chat", "win_rate_vs_sft": 0.5, "ci95": [0.5, 0.5]},
    "dpo": {"path": "demo-out/dpo/model", "prompting": "chat", "win_rate_vs_sft": 0.52, "ci95": [0.47, 0.57]},
    "ppo": {"path": "demo-out/ppo/model", "prompting": "chat", "win_rate_vs_sft": 0.45, "ci95": [0.41, 0.49]},
    "pretrained": {"path": "demo-out/pretrain/model", "prompting": "fewshot", "win_rate_vs_sft": 0.6},
    "rm_accuracy": 0.61, "timings_s": {"sft": 10.0},
}


def test_next_steps_serves_the_best_chat_model_never_a_fewshot_base():
    assert best_chat_model(RESULTS)[0] == "dpo"  # the base model wins more, but it is not a chat model
    text = next_steps(RESULTS, "demo-out")
    lines = text.splitlines()
    assert lines[0] == "next: serve the best chat model, dpo (win rate vs SFT 0.520 [0.47, 0.57]):"
    assert lines[1] == "  kaizen serve demo-out/dpo/model --port 8000 \\"
    assert lines[2] == "      --models sft=demo-out/sft/model ppo=demo-out/ppo/model"  # the picker has the others
    assert "http://127.0.0.1:8000/v1/chat/completions" in text and '"model": "demo-out/dpo/model"' in text
    assert "--sft_model demo-out/sft/model --world demo-out/world" in text


def test_next_steps_without_models_says_how_to_serve_one():
    assert next_steps({"timings_s": {}}, "out").startswith("next: no chat model")
    only_sft = {"sft": {**RESULTS["sft"]}}
    assert next_steps(only_sft, "out").splitlines()[0] == "next: serve the best chat model, sft (win rate vs SFT 0.500):"


HEAVY = ("torch", "transformers", "accelerate", "peft", "datasets", "matplotlib", "fastapi", "tokenizers", "tensorboard")
CHILD = """
import contextlib, io, json, sys
from kaizen.cli import COMMANDS, main
out = {}
for argv in [[name, "--help"] for name in COMMANDS] + [["data", "validate", "--help"], ["data", "demo-world", "--help"]]:
    with contextlib.redirect_stdout(io.StringIO()) as text:
        try:
            main(argv)
        except SystemExit:
            pass
    out[" ".join(argv)] = {"heavy": [m for m in %r if m in sys.modules], "help": text.getvalue()}
print(json.dumps(out))
""" % (HEAVY,)


def test_every_commands_help_imports_no_heavy_library():
    # Building --help from the config dataclasses must not import torch & co. (it took 6.8 s when it
    # did); the heavy imports wait for the code that uses them (kaizen.lazy, or inside functions).
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert {argv: r["heavy"] for argv, r in results.items() if r["heavy"]} == {}
    assert "--lr" in results["sft --help"]["help"] and "--ptx_coef" in results["ppo --help"]["help"]
    assert "--sft.lr" in results["demo --help"]["help"] and "--strict" in results["data validate --help"]["help"]
