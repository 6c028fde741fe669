"""Checkpoints for stages that run their own loop (PPO): accelerate state + a step counter.

``fit`` (pretrain, SFT, RM, DPO) checkpoints the same way; this class serves loops that are not
a single optimizer over one batch stream. A checkpoint directory is renamed into place only
when complete, so a kill during saving never leaves a checkpoint that looks whole.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelerate import Accelerator


class StageCheckpointer:
    def __init__(self, accelerator: Accelerator, run_dir: str | Path, keep: int = 2):
        self.acc = accelerator
        self.root = Path(run_dir) / "checkpoints"
        self.keep = keep

    def _complete(self) -> list[Path]:
        ckpts = [p for p in self.root.glob("step-*[0-9]") if (p / "trainer_state.json").exists()]
        return sorted(ckpts, key=lambda p: int(p.name.split("-")[1]))

    def save(self, step: int, extra_state: dict[str, Any] | None = None) -> Path:
        tmp, final = self.root / f"step-{step}.tmp", self.root / f"step-{step}"
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp))
        if self.acc.is_main_process:
            state = {"step": step, **{k: v.state_dict() for k, v in (extra_state or {}).items()}}
            (tmp / "trainer_state.json").write_text(json.dumps(state))
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            for old in self._complete()[: -self.keep] if self.keep > 0 else []:
                shutil.rmtree(old, ignore_errors=True)
        self.acc.wait_for_everyone()
        return final

    def restore(self, extra_state: dict[str, Any] | None = None) -> int:
        """Load the newest complete checkpoint, if any; returns the step to continue from."""
        ckpts = self._complete()
        if not ckpts:
            return 0
        latest = ckpts[-1]
        self.acc.load_state(str(latest))
        state = json.loads((latest / "trainer_state.json").read_text())
        for k, obj in (extra_state or {}).items():
            if k in state:
                obj.load_state_dict(state[k])
        self.acc.print(f"resuming from {latest} (step {state['step']})")
        return int(state["step"])
