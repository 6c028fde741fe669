"""Chat templates and assistant-only tokenization.

A tokenizer's own chat template is always used when it has one (``Qwen/Qwen2.5-0.5B`` does).
Tokenizers without one (GPT-2, the tiny models Kaizen trains) get ``DEFAULT_CHAT_TEMPLATE``:

    <|system|>
    You are helpful.<|end|>
    <|user|>
    Hi<|end|>
    <|assistant|>
    Hello!<|end|>

The markers are added as special tokens by ``kaizen pretrain``, so each is one token; on a hub
tokenizer without them they are plain text, which still works. ``<|end|>`` closes every turn and
is the tokenizer's EOS for chat generation, so a model learns to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kaizen.data.records import Message

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
CHAT_SPECIAL_TOKENS = [SYSTEM, USER, ASSISTANT, END]

DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def ensure_chat_template(tokenizer) -> None:
    """Give a tokenizer without a chat template Kaizen's default (in place)."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        # Padding is always masked out, so reusing EOS as PAD is safe (as TRL does).
        tokenizer.pad_token = tokenizer.eos_token


def _as_dicts(messages: Sequence[Message | dict]) -> list[dict[str, str]]:
    """Role and content only: what a chat template reads (a ``weight`` is the trainer's business)."""
    rows = [m.to_dict() if isinstance(m, Message) else m for m in messages]
    return [{"role": r["role"], "content": r["content"]} for r in rows]


def _targets(messages: Sequence[Message | dict]) -> list[bool]:
    """Per turn, whether the loss falls on it: assistant turns without ``weight: 0``."""
    rows = [m.to_dict() if isinstance(m, Message) else m for m in messages]
    return [r["role"] == "assistant" and r.get("weight") != 0 for r in rows]


def render(tokenizer, messages: Sequence[Message | dict], add_generation_prompt: bool = False) -> str:
    ensure_chat_template(tokenizer)
    return tokenizer.apply_chat_template(
        _as_dicts(messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )


def stop_token_ids(tokenizer) -> list[int]:
    """Token ids that end an assistant turn: EOS plus the template's end-of-turn marker if it is one token."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in (END, "<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        tid = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid is not None and tid >= 0:
            ids.add(tid)
    return sorted(ids)


@dataclass
class TokenizedConversation:
    input_ids: list[int]
    labels: list[int]  # -100 wherever no loss is taken (system, user, template scaffolding)

    @property
    def num_target_tokens(self) -> int:
        return sum(1 for t in self.labels if t != -100)


IGNORE_INDEX = -100


def tokenize_conversation(tokenizer, messages: Sequence[Message | dict], max_length: int | None = None,
                          train_on_all: bool = False) -> TokenizedConversation:
    """Tokenize a conversation so the loss falls on assistant turns only, and only on those not
    marked ``weight: 0`` (OpenAI's fine-tuning format: earlier turns kept as context).

    The rendered text is split at turn boundaries by rendering growing prefixes (the approach
    works for any chat template): for assistant turn i, the text between
    ``render(messages[:i], add_generation_prompt=True)`` and ``render(messages[:i+1])`` is the
    answer. Each segment is tokenized on its own so boundaries are exact, and the weights change
    the labels only, never the ids. ``train_on_all`` also takes the loss on system, user and
    template tokens (plain language modelling of a dialogue), but never on a ``weight: 0`` answer:
    that weight says the answer must not be learned (``kaizen export`` gives it to disliked ones).
    """
    msgs, targets = _as_dicts(messages), _targets(messages)
    ensure_chat_template(tokenizer)
    segments: list[tuple[str, str]] = []  # (text, "prompt" | "target" | "context")
    done = ""
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prefix = render(tokenizer, msgs[:i], add_generation_prompt=True)
        full = render(tokenizer, msgs[: i + 1])
        if not prefix.startswith(done) or not full.startswith(prefix):
            raise ValueError("chat template is not prefix-stable; cannot locate assistant turns")
        segments.append((prefix[len(done):], "prompt"))
        segments.append((full[len(prefix):], "target" if targets[i] else "context"))
        done = full
    whole = render(tokenizer, msgs)
    if whole.startswith(done) and len(whole) > len(done):
        segments.append((whole[len(done):], "prompt"))
    learned = {"target", "prompt"} if train_on_all else {"target"}

    input_ids: list[int] = []
    labels: list[int] = []
    bos = tokenizer.bos_token_id
    if bos is not None and getattr(tokenizer, "add_bos_token", False) and not whole.startswith(tokenizer.bos_token or "\0"):
        input_ids.append(bos)
        labels.append(IGNORE_INDEX)
    for text, kind in segments:
        if not text:
            continue
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids.extend(ids)
        labels.extend(ids if kind in learned else [IGNORE_INDEX] * len(ids))
    if max_length is not None and len(input_ids) > max_length:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return TokenizedConversation(input_ids, labels)
