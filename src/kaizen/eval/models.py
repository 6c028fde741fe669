"""The models an evaluation compares: local chat models, few-shot base models, remote endpoints.

    spec = parse_model_spec("ppo=runs/ppo/model")                       # a directory or hub id
    spec = parse_model_spec("gpt=http://127.0.0.1:8000/v1#kaizen")      # any OpenAI-compatible API
    with open_model(spec) as m:
        answers = m.answer(prompts, SamplingParams(64, temperature=0.0, greedy=True), seed=0)

A local model answers through ``kaizen.generation`` (the chat template for chat models, a
"Q: / A:" prompt for base models, as InstructGPT prompted GPT-3) and can also score answers
(log-probabilities, for the KL to a reference) and held-out text (the alignment tax). An
endpoint only answers: it is sampled through ``/v1/chat/completions``, several requests at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from kaizen.eval.http import JsonAPI, chat_completion, first_model, split_endpoint
from kaizen.eval.prompts import EvalPrompt
from kaizen.generation import SamplingParams, chat_prompt, generate
from kaizen.lazy import lazy_import, no_grad
from kaizen.losses.sft import sequence_logprob
from kaizen.training.batching import pack_token_stream, pad_batch

torch = lazy_import("torch")

Prompting = Literal["chat", "fewshot", "endpoint"]
# A base model's answer ends at a blank line or the next "Q:", how every example is separated.
FEW_SHOT_STOPS: tuple[str, ...] = ("\n\n", "\nQ:")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: str  # directory / hub id, or the endpoint's base URL (ending in /v1)
    prompting: Prompting = "chat"
    endpoint_model: str | None = None  # the model id at the endpoint (None: its first)


def parse_model_spec(spec: str, prompting: Prompting = "chat") -> ModelSpec:
    """``NAME=PATH`` (directory or hub id) or ``NAME=http://host:port/v1#model``."""
    name, sep, source = spec.partition("=")
    if not sep or not name.strip() or not source.strip():
        raise ValueError(f"model spec '{spec}' must be NAME=PATH or NAME=http://host:port/v1#model")
    name, source = name.strip(), source.strip()
    if source.startswith(("http://", "https://")):
        if prompting == "fewshot":
            raise ValueError(f"model spec '{spec}': an endpoint is prompted with its own chat template, not few-shot")
        url, model = split_endpoint(source)
        return ModelSpec(name, url, "endpoint", model)
    return ModelSpec(name, source, prompting)


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_text: str | None = None  # what a local model was given (None for endpoints)
    response_ids: tuple[int, ...] | None = None
    ended: bool = True


@dataclass(frozen=True)
class FewShot:
    """A plain-text few-shot prompt for base models: examples as "Q: ...\\nA: ..." blocks."""

    examples: tuple[tuple[str, str], ...]

    def format(self, messages: Sequence) -> str:
        """The examples, then the conversation (earlier turns as Q/A lines, a system turn as a first line), then "A:"."""
        prefix = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in self.examples)
        lines = [m.content if m.role == "system" else ("Q: " if m.role == "user" else "A: ") + m.content
                 for m in messages]
        return prefix + "\n".join(lines) + "\nA:"

    @classmethod
    def from_demonstrations(cls, source: str, n: int) -> FewShot:
        """The first ``n`` single-turn demonstrations of ``source`` with one-line answers."""
        from kaizen.data.formats import load_records

        out = []
        for d in load_records(source, "demonstration"):
            turns = [m for m in d.messages if m.role != "system"]
            if len(turns) == 2 and "\n" not in turns[1].content and "\n" not in turns[0].content:
                out.append((turns[0].content, turns[1].content))
            if len(out) == n:
                break
        if not out:
            raise ValueError(f"{source}: no single-turn demonstration with a one-line answer for the few-shot prompt")
        return cls(tuple(out))


class LocalModel:
    """A causal LM on this machine: answers, answer log-probabilities, held-out loss."""

    def __init__(self, spec: ModelSpec, device=None, precision: str = "fp32",
                 fewshot: FewShot | None = None, trust_remote_code: bool = False):
        from kaizen.models.loading import default_device, load_causal_lm, load_tokenizer, resolve_precision

        if spec.prompting == "fewshot" and fewshot is None:
            raise ValueError(f"model '{spec.name}' is prompted few-shot: give the examples (--fewshot_examples or --world)")
        self.spec, self.fewshot = spec, fewshot
        self.device = torch.device(device) if device is not None else default_device()
        self.tokenizer = load_tokenizer(spec.source, trust_remote_code=trust_remote_code)
        self.model = load_causal_lm(spec.source, dtype=resolve_precision(precision, self.device),
                                    trust_remote_code=trust_remote_code).to(self.device).eval()

    def prompt_texts(self, prompts: Sequence[EvalPrompt]) -> list[str]:
        if self.spec.prompting == "fewshot":
            return [self.fewshot.format(p.messages) for p in prompts]
        return [chat_prompt(self.tokenizer, p.messages) for p in prompts]

    def answer(self, prompts: Sequence[EvalPrompt], params: SamplingParams, seed: int = 0,
               batch_size: int = 32) -> list[Answer]:
        texts = self.prompt_texts(prompts)
        stops = FEW_SHOT_STOPS if self.spec.prompting == "fewshot" else ()
        gens = generate(self.model, self.tokenizer, texts, params, batch_size=batch_size, seed=seed, stop_strings=stops)
        return [Answer(g.text, t, tuple(g.response_ids), g.ended) for t, g in zip(texts, gens)]

    @no_grad
    def answer_logprobs(self, prompt_texts: Sequence[str], responses: Sequence[Sequence[int]],
                        batch_size: int = 16) -> list[float]:
        """Summed log-probability of each response's tokens given its rendered prompt."""
        out = []
        for s in range(0, len(prompt_texts), batch_size):
            seqs, labels = [], []
            for p, a in zip(prompt_texts[s:s + batch_size], responses[s:s + batch_size]):
                pid = self.tokenizer(p, add_special_tokens=False)["input_ids"]
                seqs.append(pid + list(a))
                labels.append([-100] * len(pid) + list(a))
            batch = {k: v.to(self.device) for k, v in pad_batch(seqs, labels, self.tokenizer.pad_token_id).items()}
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            out.extend(sequence_logprob(logits.float(), batch["labels"]).tolist())
        return out

    def heldout_loss(self, texts: Sequence[str], block_size: int = 128, max_blocks: int = 0) -> float:
        """Token-averaged NLL on ``texts`` packed into ``block_size`` blocks (the first ``max_blocks``; 0: all)."""
        from kaizen.training.lm import mean_nll, padded_batches

        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        blocks = pack_token_stream(ids, block_size, self.tokenizer.eos_token_id)
        blocks = blocks[:max_blocks] if max_blocks else blocks
        if not blocks:
            raise ValueError(f"held-out text is shorter than one block of {block_size} tokens")
        return mean_nll(self.model, padded_batches(blocks, None, self.tokenizer.pad_token_id))["loss"]

    def same_vocabulary(self, other: LocalModel) -> bool:
        """Whether token ids mean the same in both models (the KL between them needs it)."""
        return self.tokenizer.get_vocab() == other.tokenizer.get_vocab()

    def close(self) -> None:
        del self.model


class EndpointModel:
    """A model behind an OpenAI-compatible API (``kaizen serve``, vLLM, a hosted model)."""

    def __init__(self, spec: ModelSpec, api_key: str | None = None, concurrency: int = 8, timeout: float = 300.0):
        self.spec, self.concurrency = spec, concurrency
        self.api = JsonAPI(spec.source, api_key, timeout=timeout)
        self.model_id = spec.endpoint_model or first_model(self.api)

    def answer(self, prompts: Sequence[EvalPrompt], params: SamplingParams, seed: int = 0,
               batch_size: int = 32) -> list[Answer]:
        temperature = 0.0 if params.greedy else params.temperature

        def one(i: int) -> Answer:
            msgs = [m.to_dict() for m in prompts[i].messages]
            choice = chat_completion(self.api, self.model_id, msgs, max_tokens=params.max_new_tokens,
                                     temperature=temperature, top_p=params.top_p, seed=seed + i)
            return Answer((choice.get("message") or {}).get("content") or "",
                          ended=choice.get("finish_reason") != "length")

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, range(len(prompts))))

    def close(self) -> None:
        pass


def open_model(spec: ModelSpec, device=None, precision: str = "fp32", fewshot: FewShot | None = None,
               api_key: str | None = None, trust_remote_code: bool = False) -> LocalModel | EndpointModel:
    if spec.prompting == "endpoint":
        return EndpointModel(spec, api_key)
    return LocalModel(spec, device, precision, fewshot, trust_remote_code)
