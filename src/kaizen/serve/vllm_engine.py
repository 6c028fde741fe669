"""The vLLM engine: the same ``generate(prompt_ids, params)`` API on vLLM's AsyncLLMEngine (GPU).

    kaizen serve runs/ppo --engine vllm          # needs `pip install vllm` and a CUDA GPU

UNTESTED HERE: Kaizen's test suite runs on CPU without vLLM, so this adapter is kept thin; it
only translates parameters and turns vLLM's cumulative outputs into per-step events. vLLM
does its own continuous batching and paged KV cache; a cancelled consumer aborts its request.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

from kaizen.data.chat import ensure_chat_template, stop_token_ids
from kaizen.models.decoding import GREEDY_BELOW
from kaizen.serve.engine import SamplingParams, TokenEvent, check_prompt_ids


class VLLMEngine:
    def __init__(self, llm, tokenizer, model_name: str, max_context: int):
        ensure_chat_template(tokenizer)
        self.llm, self.tokenizer, self.model_name, self.max_context = llm, tokenizer, model_name, max_context
        self.stop_ids = stop_token_ids(tokenizer)
        self.vocab_size = len(tokenizer)

    @classmethod
    def load(cls, path: str, model_name: str, dtype: str = "auto", max_batch_size: int = 256) -> VLLMEngine:
        from transformers import AutoConfig, AutoTokenizer
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        llm = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(model=path, dtype=dtype, max_num_seqs=max_batch_size))
        context = getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", None) or 2048
        return cls(llm, AutoTokenizer.from_pretrained(path), model_name, context)

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> AsyncIterator[TokenEvent]:
        import vllm
        from vllm.inputs import TokensPrompt

        check_prompt_ids(prompt_ids, self.vocab_size)
        temperature = 0.0 if params.temperature < GREEDY_BELOW else params.temperature
        sp = vllm.SamplingParams(n=1, temperature=temperature, top_p=params.top_p, seed=params.seed,
                                 top_k=params.top_k or -1, repetition_penalty=params.repetition_penalty,
                                 max_tokens=params.max_tokens, stop=list(params.stop) or None,
                                 stop_token_ids=self.stop_ids, logprobs=params.logprobs)
        if params.constraint is not None:  # vLLM's own structured outputs follow the same JSON schema
            from vllm.sampling_params import GuidedDecodingParams

            schema = getattr(params.constraint, "schema", None)
            sp.guided_decoding = GuidedDecodingParams(json=schema) if schema else GuidedDecodingParams(json_object=True)
        request_id = "kz-" + secrets.token_hex(8)
        seen_tokens, seen_text, finished = 0, 0, False
        try:
            async for out in self.llm.generate(TokensPrompt(prompt_token_ids=list(prompt_ids)), sp, request_id):
                o = out.outputs[0]
                finish = {"stop": "stop", "length": "length"}.get(o.finish_reason) if o.finished() else None
                new_ids = list(o.token_ids[seen_tokens:])
                text, seen_text = o.text[seen_text:], len(o.text)
                for i, tid in enumerate(new_ids):
                    lp = top = None
                    if params.logprobs is not None and o.logprobs:
                        step = o.logprobs[seen_tokens + i]
                        lp = step[tid].logprob if tid in step else None
                        top = sorted(((t, v.logprob) for t, v in step.items()), key=lambda x: -x[1])[:params.logprobs]
                    last = i == len(new_ids) - 1
                    yield TokenEvent(text if last else "", tid, lp, top, finish if last else None,
                                     len(prompt_ids), seen_tokens + i + 1)
                seen_tokens += len(new_ids)
                if not new_ids and (text or finish):
                    yield TokenEvent(text, None, finish_reason=finish, prompt_tokens=len(prompt_ids),
                                     completion_tokens=seen_tokens)
                if finish:
                    finished = True
                    return
        finally:
            if not finished:
                await self.llm.abort(request_id)
