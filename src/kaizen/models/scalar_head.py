"""Scalar-head models: the reward model r(x, y) and PPO's value model V(x, y_<t).

InstructGPT's RM is the SFT model "with the final unembedding layer removed" and a scalar head
(Ouyang et al. 2022, §3.5). `transformers`' ``AutoModelForSequenceClassification`` with one label
is exactly that for every causal architecture (Llama, GPT-2, Qwen2, GPT-NeoX, ...), and it is the
format TRL, OpenRLHF and vLLM load reward models in. Kaizen reads its head per token itself, so
pooling never depends on where the pad token is: the reward is the head at the last real token.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel


def load_scalar_model(name_or_path: str, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False) -> PreTrainedModel:
    """A causal LM (new head, randomly initialised) or an existing RM, as a one-output classifier."""
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path, num_labels=1, dtype=dtype, trust_remote_code=trust_remote_code)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else 0
    return model


def _head(model: PreTrainedModel) -> torch.nn.Module:
    for name in ("score", "classifier", "v_head"):
        if hasattr(model, name):
            return getattr(model, name)
    raise ValueError(f"{type(model).__name__} has no scalar head (score / classifier)")


def token_values(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B, T]``: the scalar head applied at every position (PPO's per-token values)."""
    backbone = getattr(model, model.base_model_prefix)
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return _head(model)(hidden).squeeze(-1).float()


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B]`` index of each row's last attended token (works for left or right padding)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask).argmax(dim=1)


def sequence_scores(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B]``: the reward r(x, y), the head's output at each row's last real token."""
    values = token_values(model, input_ids, attention_mask)
    return values.gather(1, last_token_index(attention_mask).unsqueeze(1)).squeeze(1)
