"""KL-coefficient controllers for the PPO reward ``r - β·KL``.

Adaptive (Ziegler et al. 2019, "Fine-Tuning LMs from Human Preferences", §2.2): steer β so the
measured KL(π ‖ π_ref) tracks a target,

    e_t = clip(KL_t / KL_target - 1, -0.2, 0.2),     β_{t+1} = β_t (1 + K_β e_t)

with K_β = n_steps / horizon, as in lm-human-preferences ``AdaptiveKLController``
(https://github.com/openai/lm-human-preferences/blob/master/lm_human_preferences/train_policy.py)
and TRL's copy of it. InstructGPT uses a fixed β = 0.02 (App. C.4): ``FixedKLController``.

Both carry ``state_dict()`` / ``load_state_dict()`` so a resumed run continues with the same β.
"""

from __future__ import annotations

from typing import Any


class FixedKLController:
    """β that never changes."""

    def __init__(self, kl_coef: float) -> None:
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        """No-op; same signature as the adaptive controller."""

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])


class AdaptiveKLController:
    """β adapted towards a target KL (Ziegler et al. 2019, §2.2).

    Args:
        init_kl_coef: starting β.
        target: KL_target in nats per response (sum over tokens), the quantity passed to
            ``update``.
        horizon: number of samples (episodes) over which the error is corrected; Ziegler et
            al. use 10000.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        if target <= 0 or horizon <= 0:
            raise ValueError("target and horizon must be positive")
        self.value = float(init_kl_coef)
        self.target = float(target)
        self.horizon = float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        """Multiply β by ``1 + clip(current_kl/target - 1, ±0.2) · n_steps / horizon``.

        Args:
            current_kl: mean KL of the batch just collected (float or 0-dim tensor).
            n_steps: samples in that batch (episodes), so the rate is per sample.
        """
        error = min(max(float(current_kl) / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.target = float(state["target"])
        self.horizon = float(state["horizon"])
