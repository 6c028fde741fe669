"""``HFSampler``: the ``Sampler`` interface over a local Hugging Face causal LM.

    sampler = HFSampler.load("runs/sft/model")
    [[c]] = sampler.complete([[{"role": "user", "content": "What does the zorvik eat?"}]])
    c.text, c.tokens, c.mean_logprob

Generation goes through ``kaizen.generation.generate`` (batched, KV cache, stop at end of
turn), the path evaluation and ranking use; the log-probabilities of the sampled tokens are then
read in one teacher-forced forward pass (temperature 1, what self-consistency breaks ties with).
Each call draws from its own seed (``seed`` + call number), so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.generation import SamplingParams, chat_prompt, generate
from kaizen.lazy import no_grad
from kaizen.losses.sft import sequence_logprob
from kaizen.prompting.types import Completion, as_conversation
from kaizen.training.batching import pad_batch


class HFSampler:
    def __init__(self, model, tokenizer, batch_size: int = 64, seed: int = 0, top_p: float = 1.0):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.seed, self.top_p = batch_size, seed, top_p
        self.calls = 0
        self.generated_tokens = 0

    @classmethod
    def load(cls, path: str, device: str | None = None, **kwargs) -> HFSampler:
        from kaizen.models.loading import default_device, load_causal_lm, load_tokenizer

        model = load_causal_lm(path).to(device or default_device()).eval()
        return cls(model, load_tokenizer(path), **kwargs)

    def complete(self, conversations: Sequence[Sequence[dict]], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int = 128) -> list[list[Completion]]:
        if not conversations:
            return []
        texts = [chat_prompt(self.tokenizer, as_conversation(c)) for c in conversations]
        flat = [t for t in texts for _ in range(n)]
        params = SamplingParams(max_new_tokens=max_tokens, temperature=temperature, greedy=temperature <= 0)
        gens = generate(self.model, self.tokenizer, flat, params, batch_size=self.batch_size,
                        seed=self.seed + self.calls)
        self.calls += 1
        logprobs = self._logprobs([g.prompt_ids for g in gens], [g.response_ids for g in gens])
        outs = [Completion(g.text, len(g.response_ids), lp, "stop" if g.ended else "length")
                for g, lp in zip(gens, logprobs)]
        self.generated_tokens += sum(c.tokens for c in outs)
        return [outs[i * n:(i + 1) * n] for i in range(len(texts))]

    @no_grad
    def _logprobs(self, prompts: list[list[int]], responses: list[list[int]]) -> list[float]:
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out: list[float] = []
        for s in range(0, len(prompts), self.batch_size):
            seqs = [p + r for p, r in zip(prompts[s:s + self.batch_size], responses[s:s + self.batch_size])]
            labels = [[-100] * len(p) + r for p, r in zip(prompts[s:s + self.batch_size], responses[s:s + self.batch_size])]
            batch = {k: v.to(device) for k, v in pad_batch(seqs, labels, pad).items()}
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            out.extend(sequence_logprob(logits.float(), batch["labels"]).tolist())
        return out
