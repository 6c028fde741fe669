"""``kaizen STAGE --num_processes N``: the same command re-run under ``accelerate launch``.

    kaizen sft --config my.yaml --num_processes 2                      # 2 processes on this machine
    kaizen sft --config my.yaml --accelerate_config configs/accelerate/fsdp.yaml   # FSDP, DeepSpeed, nodes

Every stage already runs under ``accelerate launch`` (``accelerate launch -m kaizen sft ...``);
this saves typing it. The two launcher flags are taken off the command line before the stage
parses it, so stage configs stay about training. On a machine without a GPU the processes talk
over gloo (``ACCELERATE_USE_CPU``: accelerate's own launcher would otherwise start one process).
Multi-node runs: docs/distributed.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

LAUNCH_FLAGS = ("--num_processes", "--accelerate_config")


@dataclass(frozen=True)
class LaunchOptions:
    num_processes: int | None = None
    accelerate_config: str | None = None

    @property
    def wanted(self) -> bool:
        return self.accelerate_config is not None or (self.num_processes or 1) > 1


def split_launch_args(argv: list[str]) -> tuple[LaunchOptions, list[str]]:
    """Take ``--num_processes N`` / ``--accelerate_config FILE`` (also ``--flag=value``) out of ``argv``."""
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name.startswith("--"):
            name = "--" + name[2:].replace("-", "_")  # --num-processes too, as every other flag
        if name in LAUNCH_FLAGS:
            if not eq:
                if i + 1 >= len(argv):
                    raise ValueError(f"{name} needs a value")
                value, i = argv[i + 1], i + 1
            found[name] = value
        else:
            rest.append(arg)
        i += 1
    n = found.get("--num_processes")
    if n is not None and (not n.isdigit() or int(n) < 1):
        raise ValueError(f"--num_processes must be a positive integer, got {n!r}")
    return LaunchOptions(int(n) if n else None, found.get("--accelerate_config")), rest


def launch_command(command: str, rest: list[str], opts: LaunchOptions, has_gpu: bool) -> tuple[list[str], dict[str, str]]:
    """The ``accelerate launch`` command line and the environment additions that re-run ``kaizen COMMAND``."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    env: dict[str, str] = {}
    if opts.accelerate_config:
        cmd += ["--config_file", opts.accelerate_config]
    else:
        # Precision is each stage's choice (make_accelerator); these only silence launcher defaults.
        cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        if (opts.num_processes or 1) > 1:
            cmd += ["--multi_gpu"]  # torchrun-style workers; on CPU they join over gloo
    if opts.num_processes:
        cmd += ["--num_processes", str(opts.num_processes)]
    if not has_gpu:
        env["ACCELERATE_USE_CPU"] = "true"
    return cmd + ["-m", "kaizen", command, *rest], env


def inside_launched_process() -> bool:
    return "LOCAL_RANK" in os.environ or "WORLD_SIZE" in os.environ


def relaunch(command: str, rest: list[str], opts: LaunchOptions) -> int:
    import torch

    cmd, env = launch_command(command, rest, opts, has_gpu=torch.cuda.is_available())
    return subprocess.call(cmd, env={**os.environ, **env})
