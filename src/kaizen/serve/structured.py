"""Constrained decoding for ``response_format`` (``json_object``, ``json_schema``) with lm-format-enforcer.

    constraint = json_constraint(tokenizer, stop_ids, schema)  # schema: a JSON Schema dict, or None for any object
    SamplingParams(max_tokens=64, constraint=constraint)   # the engine masks every step to constraint.allowed(ids)

lm-format-enforcer (https://github.com/noamgat/lm-format-enforcer) walks a character-level JSON
(Schema) parser over a prefix tree of the vocabulary, so each step allows exactly the tokens that
keep the output a valid prefix, and the end-of-text token once the value is complete. It is pure
Python and runs on CPU; it is the optional extra ``kaizen-rlhf[structured]``.
"""

from __future__ import annotations

import threading

from kaizen.serve.errors import APIError

EXTRA = "pip install 'kaizen-rlhf[structured]'  (lm-format-enforcer)"
_TOKENIZER_DATA: dict[int, object] = {}  # per tokenizer: decoding every token once takes a while on a big vocabulary
_LOCK = threading.Lock()
WHITESPACE_RUN = 2


class JsonConstraint:
    """The tokens allowed after a row's generated ``ids``; one enforcer per request (its states are keyed by ids)."""

    def __init__(self, enforcer, schema: dict | None):
        self.enforcer, self.schema = enforcer, schema

    def allowed(self, ids: list[int]) -> list[int]:
        return self.enforcer.get_allowed_tokens(list(ids)).allowed_tokens


def _tokenizer_data(tokenizer, stop_ids: list[int]):
    """lm-format-enforcer's view of the vocabulary: (id, text, starts a word) per regular token.

    The rule of its transformers integration (``_build_regular_tokens_list``), which itself does not
    import under transformers 5; decoding after a "0" token keeps a word-start token's leading space.
    The stop ids (EOS and the chat template's end of turn) are the tokens allowed once the JSON is done.
    """
    from lmformatenforcer import TokenEnforcerTokenizerData

    zero, special = tokenizer.encode("0", add_special_tokens=False)[-1], set(tokenizer.all_special_ids)
    regular = []
    for idx in range(len(tokenizer)):
        if idx in special:
            continue
        after_zero = tokenizer.decode([zero, idx])[1:]
        regular.append((idx, after_zero, len(after_zero) > len(tokenizer.decode([idx]))))

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids).rstrip("\ufffd")  # an unfinished UTF-8 sequence is not text yet

    return TokenEnforcerTokenizerData(regular, decode, sorted(stop_ids), False, len(tokenizer))


def json_constraint(tokenizer, stop_ids: list[int], schema: dict | None, param: str = "response_format") -> JsonConstraint:
    """A constraint to JSON (matching ``schema`` if given); a 400 naming ``param`` if the extra is missing
    or the schema cannot be compiled. Blocking the first time per tokenizer: call it from a worker thread."""
    try:
        from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser, TokenEnforcer
    except ImportError:
        raise APIError(400, f"response_format json_object / json_schema needs the structured-output extra on the "
                            f"server: {EXTRA}.", param=param, code="structured_output_unavailable") from None
    with _LOCK:
        if id(tokenizer) not in _TOKENIZER_DATA:
            _TOKENIZER_DATA[id(tokenizer)] = _tokenizer_data(tokenizer, stop_ids)
        data = _TOKENIZER_DATA[id(tokenizer)]
    try:
        # Two whitespaces in a row at most: a weak model otherwise pads the JSON (and its end) until max_tokens.
        config = CharacterLevelParserConfig(max_consecutive_whitespaces=WHITESPACE_RUN)
        parser = JsonSchemaParser(schema if schema is not None else {"type": "object"}, config)
        return JsonConstraint(TokenEnforcer(data, parser), schema)
    except Exception as e:  # lm-format-enforcer raises plain exceptions for schemas it cannot follow
        raise APIError(400, f"Invalid value for '{param}': the JSON schema cannot be used ({type(e).__name__}: {e}).",
                       param=param) from None
