"""Load and save causal LMs by hub id or local path, for any architecture `transformers` knows."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kaizen.data.chat import ensure_chat_template, stop_token_ids
from kaizen.models.adapters import is_adapter_dir
from kaizen.models.identity import MODEL_CARD
from kaizen.lazy import lazy_import
from kaizen.models.precision import Precision, resolve_precision  # noqa: F401  (callers import it from here)

torch = lazy_import("torch")
if TYPE_CHECKING:
    from transformers import PreTrainedModel


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class _Dtypes(Mapping):
    """Precision name -> torch dtype, looked up when used (importing this module does not import torch)."""

    _NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

    def __getitem__(self, precision: str):
        return getattr(torch, self._NAMES[precision])

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


DTYPES = _Dtypes()


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    ensure_chat_template(tok)
    return tok


def load_causal_lm(name_or_path: str, dtype: str = "fp32", trust_remote_code: bool = False,
                   attn_implementation: str | None = None, quantization_config=None) -> PreTrainedModel:
    """Any causal LM on the hub or on disk; weights stay in `dtype` (mixed precision is the trainer's job).

    A peft adapter directory that cannot be merged into weights (prompt tuning) loads with its base.
    """
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": DTYPES[dtype], "trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if is_adapter_dir(name_or_path):
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)


def save_pretrained(model: PreTrainedModel, tokenizer, out_dir: str | Path, state_dict=None) -> Path:
    """Save a standard model directory (safetensors + config + tokenizer + generation config).

    The generation config lists every end-of-turn token, so `generate`, vLLM and `kaizen serve`
    stop at the end of an assistant turn.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stops = stop_token_ids(tokenizer)
    if stops and getattr(model, "generation_config", None) is not None:  # scalar-head models have none
        model.generation_config.eos_token_id = stops if len(stops) > 1 else stops[0]
        if tokenizer.pad_token_id is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(out)
    if (out.parent / MODEL_CARD).is_file():  # the run's name and version travel with a copied model directory
        shutil.copyfile(out.parent / MODEL_CARD, out / MODEL_CARD)
    return out
