"""Parameter-efficient fine-tuning through `peft`: LoRA, prompt tuning, and QLoRA's 4-bit base.

    model = load_causal_lm(path, quantization_config=four_bit_config(True))   # QLoRA: CUDA only
    model = apply_adapter(model, AdapterSettings(lora_r=16), task="CAUSAL_LM")
    model = apply_adapter(model, AdapterSettings(prompt_tuning_tokens=20), task="CAUSAL_LM")

LoRA (Hu et al. 2021) trains low-rank updates of every linear layer and is merged into the
weights when saved, so later stages load a plain model. Prompt tuning (Lester et al. 2021)
trains only ``prompt_tuning_tokens`` virtual token embeddings prepended to every input; it
cannot be merged, so its output is a peft adapter directory that ``load_causal_lm`` opens with
its base. QLoRA (Dettmers et al. 2023) keeps the frozen base in 4-bit NF4 (``bitsandbytes``,
CUDA only) under LoRA adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaizen.config import ConfigError
from kaizen.lazy import lazy_import

torch = lazy_import("torch")


@dataclass(frozen=True)
class AdapterSettings:
    lora_r: int = 0
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    prompt_tuning_tokens: int = 0
    load_in_4bit: bool = False

    def check(self) -> None:
        """Refuse combinations that cannot run, naming the config key, before any model loads."""
        if self.lora_r > 0 and self.prompt_tuning_tokens > 0:
            raise ConfigError("config keys 'lora_r' and 'prompt_tuning_tokens': choose one adapter kind")
        if self.load_in_4bit:
            if self.lora_r <= 0:
                raise ConfigError("config key 'load_in_4bit': a 4-bit base is frozen, so QLoRA needs LoRA adapters "
                                  "on it (--lora_r 16)")
            if not torch.cuda.is_available():
                raise ConfigError("config key 'load_in_4bit': QLoRA's 4-bit base (bitsandbytes NF4) runs on CUDA GPUs "
                                  "only and this machine has none; use --lora_r alone (LoRA on a full-precision base)")
            try:
                import bitsandbytes  # noqa: F401
            except ImportError as e:
                raise ConfigError("config key 'load_in_4bit': bitsandbytes is not installed: "
                                  "pip install 'kaizen[qlora]'") from e

    @property
    def any(self) -> bool:
        return self.lora_r > 0 or self.prompt_tuning_tokens > 0


def four_bit_config(load_in_4bit: bool):
    """``BitsAndBytesConfig`` of QLoRA (NF4, double quantisation, bf16 compute) or None."""
    if not load_in_4bit:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def apply_adapter(model, settings: AdapterSettings, task: str = "CAUSAL_LM", seed: int | None = None):
    """``model`` wrapped by peft with the adapter ``settings`` ask for (unchanged when none); with ``seed``,
    the adapter's initialisation (LoRA's A, the virtual tokens) is the same for the same seed."""
    if not settings.any:
        return model
    if seed is not None:
        torch.manual_seed(seed)
    from peft import LoraConfig, PromptTuningConfig, get_peft_model, prepare_model_for_kbit_training

    if settings.load_in_4bit:
        model = prepare_model_for_kbit_training(model)
    if settings.prompt_tuning_tokens > 0:
        config = PromptTuningConfig(task_type=task, num_virtual_tokens=settings.prompt_tuning_tokens)
    else:
        config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                            target_modules="all-linear", task_type=task)
    return get_peft_model(model, config)


def is_adapter_dir(path: str | Path) -> bool:
    """Whether ``path`` is a peft adapter saved without its base (prompt tuning cannot be merged)."""
    return (Path(path) / "adapter_config.json").exists() and not (Path(path) / "config.json").exists()


def virtual_tokens(model) -> int:
    """How many virtual tokens a peft prompt-tuned ``model`` prepends to every input (0: none).

    Such a model drops ``position_ids`` and returns logits for the virtual tokens too, so packed
    passes and KV-cache decoding must treat it apart (``kaizen.dpo``, ``kaizen.models.decoding``).
    """
    config = getattr(model, "active_peft_config", None)  # a plain transformers model has none
    if config is None or config.peft_type != "PROMPT_TUNING":
        return 0
    return config.num_virtual_tokens
