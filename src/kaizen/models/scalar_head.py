"""Scalar-head models: the reward model r(x, y) and PPO's value model V(x, y_<t).

InstructGPT's RM is the SFT model "with the final unembedding layer removed" and a scalar head
(Ouyang et al. 2022, §3.5). `transformers`' ``AutoModelForSequenceClassification`` with one label
is exactly that for every causal architecture (Llama, GPT-2, Qwen2, GPT-NeoX, ...), and it is the
format TRL, OpenRLHF and vLLM load reward models in. Kaizen reads its head per token itself, so
pooling never depends on where the pad token is: the reward is the head at the last real token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaizen.lazy import lazy_import
from kaizen.models.adapters import is_adapter_dir

torch = lazy_import("torch")
if TYPE_CHECKING:
    from transformers import PreTrainedModel


def load_scalar_model(name_or_path: str, dtype: torch.dtype | None = None, trust_remote_code: bool = False,
                      quantization_config=None) -> PreTrainedModel:
    """A causal LM (new head, randomly initialised) or an existing RM, as a one-output classifier (fp32 by default).

    A prompt-tuned RM (a peft SEQ_CLS adapter directory: virtual tokens and the trained head) loads with its base.
    """
    from transformers import AutoModelForSequenceClassification

    kwargs = {"num_labels": 1, "dtype": dtype or torch.float32, "trust_remote_code": trust_remote_code}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if is_adapter_dir(name_or_path):
        from peft import AutoPeftModelForSequenceClassification, PeftConfig

        task = PeftConfig.from_pretrained(name_or_path).task_type
        if task != "SEQ_CLS":
            raise ValueError(f"{name_or_path} is a {task} peft adapter, not a scalar model: prompt tuning cannot be "
                             "merged into its base, so start the reward or value model from that base instead "
                             "(base_model_name_or_path in its adapter_config.json)")
        model = AutoPeftModelForSequenceClassification.from_pretrained(name_or_path, **kwargs)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, **kwargs)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else 0
    return model


def scalar_head(model: torch.nn.Module) -> torch.nn.Module:
    """The one-output head, through DDP / FSDP / DeepSpeed wrappers and peft adapters."""
    from accelerate.utils import extract_model_from_parallel

    inner = extract_model_from_parallel(model)
    if hasattr(inner, "get_base_model"):  # peft: the head (or its trainable copy) lives in the base model
        inner = inner.get_base_model()
    for name in ("score", "classifier", "v_head"):
        if hasattr(inner, name):
            return getattr(inner, name)
    raise ValueError(f"{type(inner).__name__} has no scalar head (score / classifier)")


def token_values(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B, T]``: the scalar head applied at every position (PPO's per-token values).

    Runs the (possibly wrapped) model's own forward, so DDP / FSDP hooks fire, and re-applies the
    head to the final hidden states, which the classifier's pooled output would throw away.
    """
    out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    hidden = out.hidden_states[-1][:, -input_ids.shape[1]:]  # prompt tuning's virtual tokens come first: not ours
    return scalar_head(model)(hidden).squeeze(-1).float()


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B]`` index of each row's last attended token (works for left or right padding)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask).argmax(dim=1)


def sequence_scores(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B]``: the reward r(x, y), the head's output at each row's last real token."""
    values = token_values(model, input_ids, attention_mask)
    return values.gather(1, last_token_index(attention_mask).unsqueeze(1)).squeeze(1)
